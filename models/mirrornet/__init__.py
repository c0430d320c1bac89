"""MirrorNet: learning the JX's controls from sound alone, with the synth in the loop.

After Siriwardena, Marion & Shamma, "The Mirrornet: Learning Audio Synthesizer Controls
Inspired by Sensorimotor Interaction" (ICASSP 2022). An encoder (a TCN over the auditory
spectrogram of a melody) proposes tone parameters; a decoder (a TCN over the latent and the
melody's note timing) learns to predict the auditory spectrogram the synth makes for a
proposal. Training alternates:

* decoder phase: the *plant* (the emulator's batch renderer, or a rig through capture jobs)
  plays the encoder's current proposals plus exploration noise, and the decoder is fitted to
  the spectrograms the plant actually produced (a replay buffer of every round's proposals);
  round 0 "babbles": uniform random proposals, before the encoder knows anything;
* encoder phase: the decoder is frozen and the encoder is trained so that
  ``decoder(encoder(x))`` reconstructs the input spectrogram ``x``. No parameter labels are
  used anywhere; the plant is the only source of knowledge about the synth.

Choices made here, once:

* The latent is per note (``[batch, notes, width]``) and the decoder plays each note from
  its own latent, but the encoder *ties* the notes of a melody to one tone (the mean of its
  per-note pooled features): a capture job programs one tone per take, so the JX plays the
  whole melody with one tone.
* The latent's layout follows a :class:`~models.targets.TargetSpec`: continuous parameters
  as sigmoids in [0, 1], each switch as a softmax over its positions. The plant plays the
  argmax; the decoder is fitted on the one-hot of what was played.
* The melody (keys and timing) is known to both networks, as in the paper; only the tone is
  inferred. The decoder is built like the synth: one voice per note (a TCN over that note's
  timeline: when it started, when it was released, its key) that scales the note's harmonic
  template (the auditory spectrogram of a flat harmonic comb at its key) channel by channel
  (a source-filter shape) and adds a free level for noise; the voices add up. The encoder
  sees the spectrogram and, beside it, a pitch-aligned copy (each frame shifted by its
  note's key), so that a waveform's harmonic pattern looks the same on every note.
* Spectrograms are compressed with ``log1p(x / SPECTROGRAM_REFERENCE)`` and scaled to about
  [0, 1] before any loss: the raw auditory spectrogram spans four decades.

One module per job: :mod:`.melody` (the notes), :mod:`.plant` (what plays proposals),
:mod:`.latent` (parameters as network outputs), :mod:`.spectra` (spectrograms and note
tracks), :mod:`.nets` (encoder, decoder, MirrorNet), :mod:`.training` (the alternation).
"""
