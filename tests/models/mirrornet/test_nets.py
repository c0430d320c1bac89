"""The networks: the pitch-aligned view, output shapes and the latent's constraints."""

from __future__ import annotations

import torch
from mirrornet_support import TINY

from models.mirrornet.nets import MirrorNet, aligned
from models.mirrornet.spectra import NoteTracks
from models.train import seed_everything


def test_the_aligned_view_moves_each_frame_by_its_shift():
    spec = torch.arange(2 * 128 * 3, dtype=torch.float32).view(2, 128, 3)
    shift = torch.tensor([[0, 2, -1], [127, -128, 5]])
    out = aligned(spec, shift)
    assert torch.equal(out[0, :, 0], spec[0, :, 0])
    assert torch.equal(out[0, :126, 1], spec[0, 2:, 1]) and torch.all(out[0, 126:, 1] == 0)
    assert torch.equal(out[0, 1:, 2], spec[0, :127, 2]) and out[0, 0, 2] == 0
    assert out[1, 0, 0] == spec[1, 127, 0] and torch.all(out[1, 1:, 0] == 0)
    assert torch.all(out[1, :, 1] == 0)


def test_shapes_and_latent_constraints(tiny_set):
    data = tiny_set
    seed_everything(0)
    net = MirrorNet(TINY)
    n, channels, frames = data.spectrograms.shape
    assert (n, channels) == (8, 128)
    latent = net.encoder(data.spectrograms, data.tracks)
    assert latent.shape == (8, 5, net.codec.width)
    assert torch.equal(latent[:, 0], latent[:, 4])  # one tone per melody
    codec = net.codec
    continuous = latent[..., : len(codec.continuous)]
    assert torch.all((continuous >= 0) & (continuous <= 1))
    switch_probs = latent[..., len(codec.continuous) :]
    assert torch.allclose(switch_probs.sum(-1), torch.ones(8, 5))  # DCO1 WF: one softmax
    out = net.decoder(latent, data.tracks)
    assert out.shape == (8, 128, frames) and torch.all(out >= 0)
    first = data.tracks[:1]
    late = NoteTracks(first.timeline.clone(), first.templates, first.assign, first.shift)
    late.timeline[:, :, 0, :5] = 0.0  # as if no note had started in the first 5 frames
    assert torch.all(net.decoder(latent[:1], late)[..., :5] == 0)
    assert net(data.spectrograms, data.tracks).shape == out.shape
