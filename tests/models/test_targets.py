"""Target vectors and metrics against hand-worked values and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_protocol.parameters import THESIS_SUBSET, TONE_PARAMETERS
from firmware_protocol.tone import INIT_TONE, Tone
from models.targets import TargetSpec

SPEC = TargetSpec.of(["VCF FREQ", "lfo_wf", "DCO1 RANGE"])  # continuous, 3-way, 4-way


def test_thesis_spec_follows_the_table():
    spec = TargetSpec.thesis()
    assert spec.names == THESIS_SUBSET and len(spec) == 26
    assert SPEC.continuous_index == (0,) and SPEC.switch_index == (1, 2)
    assert SPEC.switch_ways == (3, 4)
    np.testing.assert_allclose(SPEC.scale, [1, 1 / 2, 1 / 3])


def test_specs_refuse_repeats_unknown_names_and_emptiness():
    with pytest.raises(ValueError, match=r"twice.*VCF FREQ"):
        TargetSpec.of(["VCF FREQ", "vcf_freq"])
    with pytest.raises(KeyError, match="NOPE"):
        TargetSpec.of(["NOPE"])
    with pytest.raises(ValueError, match="at least one"):
        TargetSpec.of([])


@given(st.lists(st.integers(0, 127), min_size=44, max_size=44))
def test_encode_then_decode_gives_the_canonical_tone(raw):
    tone = Tone.from_values(dict(zip((p.name for p in TONE_PARAMETERS), raw, strict=True)))
    spec = TargetSpec.of()
    vector = spec.encode(tone)
    assert vector.dtype == np.float32
    np.testing.assert_allclose(vector, tone.to_vector(), rtol=1e-6)
    assert spec.decode(vector) == tone.canonical()


def test_predictions_out_of_range_are_clipped_and_switches_rounded():
    prediction = np.array([1.3, 1.4, -0.2], dtype=np.float32)  # VCF FREQ, LFO WF, DCO1 RANGE
    tone = SPEC.decode(prediction, base=INIT_TONE)
    assert tone["VCF FREQ"] == 127
    assert tone.labels()["LFO WF"] == "square"  # position 1.4 -> 1
    assert tone.labels()["DCO1 RANGE"] == "16'"
    np.testing.assert_allclose(SPEC.from_normalised([0.5, 0.8, 0.5]), [0.5, 2, 2])
