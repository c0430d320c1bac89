"""Note tracks and spectrograms follow the notes of each melody."""

from __future__ import annotations

import torch

from models.mirrornet.spectra import FRAME_MS, TIMELINE


def test_note_tracks_follow_each_note(tiny_set):
    data = tiny_set
    tracks = data.tracks
    frames = data.spectrograms.shape[-1]
    assert tracks.timeline.shape == (8, 5, TIMELINE, frames)
    assert tracks.templates.shape == (8, 5, 128) and tracks.assign.shape == (8, 5, frames)
    assert torch.all(tracks.assign.sum(1) == 1)  # every frame belongs to exactly one note
    melody, timeline = data.melodies[0], tracks.timeline[0]
    t = (torch.arange(frames) + 1) * FRAME_MS / 1000
    for j, note in enumerate(melody.notes):
        end = note.start_s + note.duration_s
        assert torch.equal(timeline[j, 0].bool(), t >= note.start_s)  # started
        assert torch.equal(timeline[j, 1].bool(), (t >= note.start_s) & (t < end))  # held
        peak = int(tracks.templates[0, j].argmax())  # the fundamental, two channels up
        assert abs(peak - (2 * (note.key - 69) + 32)) <= 1
        held = timeline[j, 1].bool()
        assert torch.all(tracks.shift[0][held & tracks.assign[0, j].bool()] == 2 * (note.key - 69))
