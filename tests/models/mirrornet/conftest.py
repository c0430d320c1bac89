"""The melodies the MirrorNet tests share, rendered once per module."""

from __future__ import annotations

import numpy as np
import pytest
from mirrornet_support import RATE, TINY, short_melody

from models.mirrornet.latent import DEFAULT_BASE, LatentCodec
from models.mirrornet.plant import EmulatorPlant
from models.mirrornet.spectra import MelodySet
from models.targets import TargetSpec


@pytest.fixture(scope="module")
def tiny_set() -> MelodySet:
    """Eight short melodies, each played by its own random tone of the default subset."""
    rng = np.random.default_rng(3)
    codec = LatentCodec(TargetSpec.of(TINY.parameters))
    tones = codec.tones(codec.random_vectors(rng, 8), DEFAULT_BASE)
    melodies = [short_melody(rng) for _ in range(8)]
    plant = EmulatorPlant(RATE)
    audio = np.concatenate(
        [plant.render([t], m, i) for i, (t, m) in enumerate(zip(tones, melodies, strict=True))]
    )
    return MelodySet.from_audio(audio, melodies, RATE)
