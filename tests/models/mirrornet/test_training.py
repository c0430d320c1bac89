"""Alternating training lowers both losses and repeats exactly."""

from __future__ import annotations

import torch
from mirrornet_support import RATE, TINY

from models.mirrornet.nets import MirrorNet
from models.mirrornet.plant import EmulatorPlant
from models.mirrornet.spectra import MelodySet
from models.mirrornet.training import MirrorTrainer
from models.train import seed_everything


def _train(data: MelodySet) -> list[dict[str, float]]:
    # numba's first parallel render (the plant) sets OpenMP back to every core, undoing the
    # conftest's one torch thread; two threads on a shared machine make training 5x slower.
    torch.set_num_threads(1)
    seed_everything(TINY.seed)
    net = MirrorNet(TINY)
    return MirrorTrainer(net, EmulatorPlant(RATE), data).train()


def test_alternating_training_lowers_both_losses_and_repeats_exactly(tiny_set):
    data = tiny_set
    history = _train(data)
    assert [row["buffer"] for row in history] == [16, 24, 32]  # babble, then one per melody
    first, last = history[0], history[-1]
    # The decoder predicts what the plant does with new proposals better and better ...
    assert last["decoder_prediction_loss"] < first["decoder_prediction_loss"] / 2
    assert last["decoder_loss"] < first["decoder_loss"]
    # ... and the encoder, through it, reconstructs its inputs better.
    assert last["encoder_loss"] < first["encoder_loss"]
    again = _train(data)
    for a, b in zip(history, again, strict=True):
        assert {k: v for k, v in a.items() if k != "seconds"} == {
            k: v for k, v in b.items() if k != "seconds"
        }
