"""The latent as parameters: every latent decodes to a valid tone on the base."""

from __future__ import annotations

import numpy as np

from firmware_protocol.tone import Tone
from models.mirrornet.latent import DEFAULT_BASE, LatentCodec
from models.targets import TargetSpec


def test_latents_decode_to_valid_tones_on_the_base():
    codec = LatentCodec(TargetSpec.of(("DCO1 WF", "VCF FREQ", "CHORUS", "ENV2 RELEASE")))
    assert codec.width == 2 + 4 + 3
    rng = np.random.default_rng(1)
    vectors = codec.random_vectors(rng, 20)
    latent = codec.from_vectors(vectors)
    np.testing.assert_array_equal(codec.to_vectors(latent), vectors)
    explored = codec.explore(vectors, rng, sigma=0.5, switch_p=0.5)
    for vector, tone in zip(explored, codec.tones(explored, DEFAULT_BASE), strict=True):
        assert isinstance(tone, Tone)
        assert tone["DCO1 WF"] == 32 * int(vector[0])  # a stock switch value
        assert tone["CHORUS"] == 32 * int(vector[2])
        assert abs(tone["VCF FREQ"] - 127 * vector[1]) <= 0.5
        assert tone["ENV1 SUSTAIN"] == 0 and tone["VCA LEVEL"] == 127  # from the base
