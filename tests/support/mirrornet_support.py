"""What the MirrorNet tests share: a tiny configuration and short melodies at one rate."""

from __future__ import annotations

import numpy as np

from models.mirrornet.melody import Melody, random_melody
from models.mirrornet.nets import MirrorConfig

RATE = 44100
#: FLAC stores 24-bit integers: one step is 2**-23 of full scale.
QUANTUM = 2.0**-23
TINY = MirrorConfig(
    hidden=16,
    blocks=3,
    rounds=3,
    babble=2,
    decoder_steps=40,
    encoder_steps=40,
    batch_size=8,
    learning_rate=3e-3,
    seed=7,
)


def short_melody(rng: np.random.Generator) -> Melody:
    return random_melody(rng, notes=5, hold_s=0.6, release_s=0.1, min_slot_s=0.08)
