"""Keyset-paginated take queries, checked against a plain-Python filter of the same data."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from db.records import ParameterRange, TakeFilter, decode_cursor, encode_cursor
from db.schema import QcVerdict, utcnow
from firmware_protocol.parameters import TONE_PARAMETERS
from firmware_protocol.tone import Tone

TAKES = 80


@pytest.fixture
def population(catalog, make_take):
    """80 takes over two jobs and two rigs, random tones and verdicts, 1 s apart."""
    rng = random.Random(1234)
    for rig in ("rig-a", "rig-b"):
        catalog.upsert_rig(rig, "emulated")
    jobs = [catalog.create_job(f"job{i}", {}, TAKES // 2, seed=i).id for i in range(2)]
    t0 = utcnow()
    expected = []
    for i in range(TAKES):
        rig = rng.choice(["rig-a", "rig-b"])
        claim = catalog.claim_next(rig, 60)
        tone = Tone.from_values({p.key: rng.randrange(128) for p in TONE_PARAMETERS})
        verdict = rng.choice(list(QcVerdict))
        when = t0 + timedelta(seconds=i)
        [take_id] = catalog.record_takes([make_take(claim, tone=tone, verdict=verdict)], now=when)
        expected.append(
            {
                "id": take_id,
                "job": claim.job_id,
                "rig": rig,
                "verdict": verdict,
                "tone": tone,
                "at": when,
            }
        )
    return jobs, t0, expected


def _all_pages(catalog, filters, limit=7):
    ids, cursor = [], None
    while True:
        page = catalog.query_takes(filters, after=cursor, limit=limit)
        ids.extend(t.id for t in page.items)
        assert len(page.items) <= limit
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


def test_filters_and_pages_match_a_python_filter(catalog, population):
    jobs, t0, takes = population
    cases = [
        (TakeFilter(), lambda t: True),
        (TakeFilter(job_id=jobs[1]), lambda t: t["job"] == jobs[1]),
        (TakeFilter(rig="rig-b"), lambda t: t["rig"] == "rig-b"),
        (
            TakeFilter(qc_verdicts=(QcVerdict.PASS, QcVerdict.WARN)),
            lambda t: t["verdict"] != QcVerdict.FAIL,
        ),
        (
            TakeFilter(parameters=(ParameterRange("vcf_freq", 40, 80),)),
            lambda t: 40 <= t["tone"]["VCF FREQ"] <= 80,
        ),
        (
            TakeFilter(
                rig="rig-a",
                parameters=(ParameterRange("VCF RES", 0, 63), ParameterRange("env1_attack", 64)),
            ),
            lambda t: (
                t["rig"] == "rig-a"
                and t["tone"]["VCF RES"] <= 63
                and t["tone"]["ENV1 ATTACK"] >= 64
            ),
        ),
        (
            TakeFilter(
                recorded_after=t0 + timedelta(seconds=30),
                recorded_before=t0 + timedelta(seconds=50),
            ),
            lambda t: t0 + timedelta(seconds=30) <= t["at"] < t0 + timedelta(seconds=50),
        ),
    ]
    for filters, keep in cases:
        expected = [t["id"] for t in takes if keep(t)]
        assert _all_pages(catalog, filters) == expected, filters
        assert catalog.count_takes(filters) == len(expected)


def test_take_rows_carry_the_tone_and_audio(catalog, population):
    _, _, takes = population
    first = catalog.query_takes(limit=1).items[0]
    assert Tone(first.tone) == takes[0]["tone"]
    assert first.rig == takes[0]["rig"] and first.audio.sample_rate == 44100


def test_broken_takes_are_hidden_unless_asked_for(catalog, population):
    _, _, takes = population
    catalog.mark_take_broken(takes[3]["id"], "audio file missing")
    visible = _all_pages(catalog, TakeFilter(), limit=50)
    assert takes[3]["id"] not in visible and len(visible) == TAKES - 1
    everything = _all_pages(catalog, TakeFilter(include_broken=True), limit=50)
    assert len(everything) == TAKES


def test_bad_queries_name_what_is_wrong(catalog):
    with pytest.raises(KeyError, match="unknown tone parameter 'vcf_frequency'"):
        ParameterRange("vcf_frequency", 0, 10)
    with pytest.raises(ValueError, match=r"VCF FREQ: 90\.\.80"):
        ParameterRange("vcf_freq", 90, 80)
    with pytest.raises(ValueError, match="not one this catalog returned"):
        catalog.query_takes(after="garbage!")
    with pytest.raises(ValueError, match="limit"):
        catalog.query_takes(limit=0)
    assert decode_cursor(encode_cursor(12345)) == 12345
