"""Tests of records: TODO docstring."""

from __future__ import annotations

from db.records import ParameterRange, TakeFilter
from db.schema import QcVerdict, utcnow


def test_filter_json_round_trip():
    t0 = utcnow()
    original = TakeFilter(
        job_id=3,
        rig="rig-a",
        qc_verdicts=(QcVerdict.FAIL,),
        recorded_after=t0,
        parameters=(ParameterRange("VCF FREQ", 1, 2),),
        max_take_id=9,
    )
    restored = TakeFilter.from_json(original.to_json())
    assert restored == original and restored.parameters[0].parameter == "vcf_freq"
