"""Parameter sources: pure, deterministic, in range, and faithful to what they claim."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paths import ROOT
from scipy.stats import norm, qmc

from daq import sampling
from daq.banks import LocalFiles
from daq.spec import SamplingSpec
from firmware_protocol.parameters import (
    CONTINUOUS,
    MAX_VALUE,
    SWITCHES,
    TONE_PARAMETERS,
    lookup,
)
from firmware_protocol.sysex import jx8p_bank, read_syx
from firmware_protocol.tone import INIT_TONE, Tone

RANDOM_KINDS = ("uniform", "sobol", "prior")
NAMES = [p.name for p in TONE_PARAMETERS]


def spec(source: dict, **fields: object) -> SamplingSpec:
    """Bank paths are read as the CLI reads them (held in the spec from then on)."""
    return SamplingSpec.model_validate(
        {"source": source, **fields}, context={"banks": LocalFiles()}
    )


def bank_tones(path: Path) -> list[Tone]:
    return [e.item for e in read_syx(path).entries if isinstance(e.item, Tone)]


def with_byte(tone: Tone, name: str, raw: int) -> Tone:
    """A tone as a dump holding a byte Tone.from_values refuses (real dumps hold such bytes)."""
    body = bytearray(tone.data)
    body[lookup(name).apr_index] = raw
    return Tone.from_dump(bytes(body))


def assert_in_range(tone: Tone) -> None:
    """Continuous values 0..127; switches at a stock byte of an existing position."""
    for p in TONE_PARAMETERS:
        raw = tone.value(p)
        assert 0 <= raw <= MAX_VALUE, p.name
        if p.is_switch:
            assert raw % p.step == 0 and raw // p.step < p.ways, (p.name, raw)


# -- purity and determinism ---------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(RANDOM_KINDS),
    seed=st.integers(0, 2**63 - 1),
    index=st.integers(0, 2**30 - 2),  # the test also draws index + 1
)
def test_random_sources_are_pure_and_in_range(kind: str, seed: int, index: int) -> None:
    s = spec({"kind": kind})
    first = sampling.tone(s, seed, index)
    assert sampling.tone(spec({"kind": kind}), seed, index) == first  # a fresh, equal spec
    assert sampling.tones(s, seed, [index + 1, index, index])[1:] == [first, first]
    assert_in_range(first)


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(RANDOM_KINDS),
    seeds=st.lists(st.integers(0, 2**32), min_size=2, max_size=2, unique=True),
    index=st.integers(0, 10**6),
)
def test_different_seeds_give_different_tones(kind: str, seeds: list[int], index: int) -> None:
    s = spec({"kind": kind})
    assert sampling.tone(s, seeds[0], index) != sampling.tone(s, seeds[1], index)


def test_different_indexes_give_different_tones() -> None:
    for kind in RANDOM_KINDS:
        batch = sampling.tones(spec({"kind": kind}), 3, range(200))
        assert len({t.data for t in batch}) == 200, kind


def test_same_tones_in_a_fresh_process(jx8p_banks: list[Path]) -> None:
    """Another process (another worker) regenerates exactly the same tones from the spec as
    stored, which holds its banks: no file is read there."""
    specs = [
        {"source": {"kind": "uniform"}, "fixed": {"VCA LEVEL": 100}},
        {"source": {"kind": "sobol"}, "vary": ["VCF FREQ", "VCF RES", "DCO1 WF"]},
        {"source": {"kind": "prior"}},
        {"source": {"kind": "prior", "banks": [str(jx8p_banks[0])]}},
        {"source": {"kind": "bank", "banks": [str(b) for b in jx8p_banks[:2]]}},
    ]
    indexes = [0, 1, 17, 63, 4095, 4096, 123_457]
    script = (
        "import json, sys\n"
        "from daq import sampling\n"
        "from daq.spec import SamplingSpec\n"
        "out = []\n"
        "for s, idx in json.loads(sys.stdin.read()):\n"
        "    sp = SamplingSpec.model_validate(s)  # no bank files: the spec holds them\n"
        "    out.append([t.data.hex() for t in sampling.tones(sp, 42, idx)])\n"
        "print(json.dumps(out))\n"
    )
    held = [spec(**_split(s)) for s in specs]
    jobs = [
        [
            s.model_dump(mode="json"),
            [i for i in indexes if (n := sampling.source_length(s)) is None or i < n],
        ]
        for s in held
    ]
    result = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        check=True,
    )
    theirs = json.loads(result.stdout)
    for (s, idx), hexes in zip(jobs, theirs, strict=True):
        ours = [t.data.hex() for t in sampling.tones(spec(**_split(s)), 42, idx)]
        assert ours == hexes, s


def _split(s: dict) -> dict:
    return {"source": s["source"], **{k: v for k, v in s.items() if k != "source"}}


def test_bad_indexes_and_seeds_are_refused() -> None:
    with pytest.raises(IndexError, match=">= 0"):
        sampling.tone(spec({"kind": "uniform"}), 1, -1)
    with pytest.raises(ValueError, match="seed"):
        sampling.tone(spec({"kind": "uniform"}), -5, 0)
    with pytest.raises(IndexError, match="2\\*\\*30"):
        sampling.tone(spec({"kind": "sobol"}), 1, 2**30)
    with pytest.raises(IndexError, match="past the end of the sweep source \\(128 tones"):
        sampling.tone(spec({"kind": "sweep", "parameter": "VCF FREQ"}), 1, 128)


# -- uniform ------------------------------------------------------------------------------
def test_uniform_covers_every_value_evenly() -> None:
    n = 12_800
    batch = sampling.tones(spec({"kind": "uniform"}), 9, range(n))
    for p in (CONTINUOUS[0], CONTINUOUS[-1]):
        counts = np.bincount([t.value(p) for t in batch], minlength=128)
        assert counts.min() > 0
        assert abs(counts.mean() - 100) < 1e-9 and counts.std() < 3 * 10  # ~Poisson(100)
    for p in SWITCHES:
        positions = np.bincount([p.position(t.value(p)) for t in batch], minlength=p.ways)
        assert np.allclose(positions / n, 1 / p.ways, atol=0.02), p.name


# -- Sobol --------------------------------------------------------------------------------
def _sobol_expected(points: np.ndarray, parameters: list) -> list[dict[str, int]]:
    """The documented mapping: continuous floor(u*128), switches floor(u*ways) positions."""
    out = []
    for row in points:
        values = {}
        for p, u in zip(parameters, row, strict=True):
            values[p.name] = p.canonical(int(u * p.ways)) if p.is_switch else int(u * 128)
        out.append(values)
    return out


@pytest.mark.parametrize("seed", [0, 7, 2**40 + 3])
def test_sobol_matches_scipys_own_generator(seed: int) -> None:
    s = spec({"kind": "sobol"})
    engine = qmc.Sobol(len(TONE_PARAMETERS), scramble=True, rng=seed)
    first = engine.random(256)
    got = sampling.tones(s, seed, range(256))
    assert [t.values() for t in got] == _sobol_expected(first, list(TONE_PARAMETERS))
    engine.reset()
    engine.fast_forward(1_000_003)
    far = engine.random(4)
    got = sampling.tones(s, seed, range(1_000_003, 1_000_007))
    assert [t.values() for t in got] == _sobol_expected(far, list(TONE_PARAMETERS))


def test_sobol_over_a_locked_subset_uses_only_its_dimensions() -> None:
    vary = ["VCF FREQ", "DCO1 WF", "ENV1 ATTACK"]
    s = spec({"kind": "sobol"}, vary=vary)
    points = qmc.Sobol(3, scramble=True, rng=5).random(64)
    order = [p for p in TONE_PARAMETERS if p.name in vary]  # APR order
    expected = _sobol_expected(points, order)
    for tone, values in zip(sampling.tones(s, 5, range(64)), expected, strict=True):
        assert {name: tone[name] for name in values} == values


def test_sobol_strata_each_hold_one_point() -> None:
    """128 = 2**7 Sobol points: every continuous value appears exactly once per parameter."""
    batch = sampling.tones(spec({"kind": "sobol"}), 11, range(128))
    for p in CONTINUOUS:
        assert sorted(t.value(p) for t in batch) == list(range(128)), p.name


# -- the preset prior ---------------------------------------------------------------------
def test_default_prior_is_the_fit_of_the_shared_banks(jx8p_banks: list[Path]) -> None:
    prior = sampling.default_prior()
    tones = [t for bank in jx8p_banks for t in bank_tones(bank)]
    assert len(tones) == 416
    # Same sound: same parameter values as the board reads them (the name does not count).
    distinct = {tuple(t.canonical().values().items()) for t in tones}
    assert prior.tones == len(distinct) < 416
    assert prior.mean.max() <= MAX_VALUE  # real dumps hold 128s; the board reads them as 127
    assert [s["file"] for s in prior.sources] == [b.name for b in jx8p_banks]
    refit = sampling.fit_prior(tones)
    assert np.allclose(prior.mean, refit.mean, atol=1e-6)
    assert np.allclose(prior.covariance, refit.covariance, atol=1e-6)
    assert prior.switch_counts == refit.switch_counts


def test_fit_script_writes_the_same_file(tmp_path: Path, jx8p_banks: list[Path]) -> None:
    out = tmp_path / "prior.json"
    script = ROOT / "scripts" / "fit_prior.py"
    subprocess.run(
        [sys.executable, str(script), str(jx8p_banks[0].parent), "-o", str(out)], check=True
    )
    shipped = Path(sampling.__file__).parent / "data" / sampling.PRIOR_RESOURCE
    assert out.read_text() == shipped.read_text()


def _clipped_rounded_mean(mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """E[clip(round(X), 0, 127)] for X ~ N(mu, sd^2), summed level by level."""
    k = np.arange(1, 128)[:, None]
    # E = sum over k=1..127 of P(clip(round X) >= k) = P(X >= k - 0.5)
    return norm.sf(k - 0.5, loc=mu, scale=sd).sum(axis=0)


def test_default_prior_samples_follow_its_statistics() -> None:
    prior = sampling.default_prior()
    n = 6000
    batch = sampling.tones(spec({"kind": "prior"}), 2024, range(n))
    values = np.array([[t.value(p) for p in CONTINUOUS] for t in batch], dtype=float)
    sd = np.sqrt(np.diag(prior.covariance))
    expected = _clipped_rounded_mean(prior.mean, sd)
    assert np.all(np.abs(values.mean(axis=0) - expected) < 5 * sd / np.sqrt(n) + 0.05)
    for p in SWITCHES:
        observed = np.bincount([p.position(t.value(p)) for t in batch], minlength=p.ways) / n
        wanted = prior.switch_frequencies(p.name)
        assert np.all(np.abs(observed - wanted) < 5 * np.sqrt(wanted * (1 - wanted) / n) + 1e-9)
        assert np.all(observed[wanted == 0] == 0), p.name


def test_prior_fitted_from_user_banks_reproduces_their_statistics(tmp_path: Path) -> None:
    """Tones drawn from a known normal -> bank -> fitted prior -> samples with its moments."""
    rng = np.random.default_rng(1)
    d = len(CONTINUOUS)
    mix = rng.normal(size=(d, d)) * 1.5
    true_cov = mix @ mix.T + 25.0 * np.eye(d)  # sd ~ 9 around 64: no clipping
    drawn = np.rint(rng.multivariate_normal(np.full(d, 64.0), true_cov, size=400))
    assert drawn.min() > 0 and drawn.max() < 127
    tones = []
    for row in drawn:
        values = {p.name: int(v) for p, v in zip(CONTINUOUS, row, strict=True)}
        values["DCO1 WF"] = SWITCHES[1].canonical(int(rng.integers(1, 3)))  # square or pulse
        tones.append(Tone.from_values(values))
    bank = tmp_path / "user.syx"
    bank.write_bytes(b"".join(jx8p_bank(tones[i : i + 32]) for i in range(0, 400, 32)))

    fitted = sampling.fit_prior(bank_tones(bank))
    assert fitted.tones == 400
    assert np.allclose(fitted.mean, drawn.mean(axis=0))
    assert np.allclose(fitted.covariance, np.cov(drawn, rowvar=False))

    n = 8000
    s = spec({"kind": "prior", "banks": [str(bank)]})
    batch = sampling.tones(s, 5, range(n))
    values = np.array([[t.value(p) for p in CONTINUOUS] for t in batch], dtype=float)
    sd = np.sqrt(np.diag(fitted.covariance))
    assert np.all(np.abs(values.mean(axis=0) - fitted.mean) < 5 * sd / np.sqrt(n))
    cov = np.cov(values, rowvar=False)
    corr = cov / np.outer(np.sqrt(np.diag(cov)), np.sqrt(np.diag(cov)))
    fitted_corr = fitted.covariance / np.outer(sd, sd)
    assert np.allclose(np.diag(cov), sd**2, rtol=0.08)
    assert np.abs(corr - fitted_corr).max() < 0.06
    waveforms = {SWITCHES[1].label(t["DCO1 WF"]) for t in batch}
    assert waveforms == {"square", "pulse"}  # never a waveform the bank did not use


def test_fit_reads_dumped_bytes_above_127_as_127_and_snaps_switches() -> None:
    a, b = INIT_TONE.replace(vcf_lfo=5), INIT_TONE.replace(vcf_res=40)
    odd = with_byte(with_byte(a, "VCF LFO", 128), "DCO1 WF", 103)  # as in real dumps
    assert odd["VCF LFO"] == 127 and odd["DCO1 WF"] == 103
    fitted = sampling.fit_prior([odd, b])
    same = sampling.fit_prior([a.replace(vcf_lfo=127, dco1_wf=96), b])
    assert np.array_equal(fitted.mean, same.mean) and fitted.switch_counts == same.switch_counts


def test_prior_file_must_match_the_parameter_table() -> None:
    data = json.loads(sampling.default_prior().to_json())
    data["continuous"] = data["continuous"][:-1]
    with pytest.raises(ValueError, match=r"where\.json: continuous parameters differ"):
        sampling.Prior.from_json(json.dumps(data), where="where.json")
    with pytest.raises(ValueError, match="not a prior statistics file"):
        sampling.Prior.from_json("{}", where="x")


# -- banks, sweeps, lists -----------------------------------------------------------------
def test_bank_source_gives_every_tone_in_file_order(jx8p_banks: list[Path]) -> None:
    s = spec({"kind": "bank", "banks": [str(b) for b in jx8p_banks[:3]]})
    expected = [t for b in jx8p_banks[:3] for t in bank_tones(b)]
    assert sampling.source_length(s) == 96
    assert sampling.tones(s, 0, range(96)) == expected
    assert sampling.tone(s, 123, 40) == expected[40]  # the seed plays no part
    with pytest.raises(IndexError, match="96 tones"):
        sampling.tone(s, 0, 96)


@pytest.mark.parametrize("parameter", ["VCF FREQ", "DCO1 TUNE", "CHORUS", "DCO2 WF", "VCA MODE"])
def test_full_sweep_hits_both_ends_and_every_step(parameter: str) -> None:
    s = spec({"kind": "sweep", "parameter": parameter})
    p = next(q for q in TONE_PARAMETERS if q.name == parameter)
    batch = sampling.tones(s, 0, range(sampling.source_length(s)))
    got = [t[parameter] for t in batch]
    if p.is_switch:
        assert got == [p.canonical(i) for i in range(p.ways)]
    else:
        assert got == list(range(128))
    for t in batch:  # nothing else moves
        assert t.replace(**{p.key: INIT_TONE[parameter]}) == INIT_TONE


@given(
    start=st.integers(0, 127),
    stop=st.integers(0, 127),
    steps=st.integers(2, 40),
)
def test_ranged_sweep_hits_its_endpoints(start: int, stop: int, steps: int) -> None:
    s = spec(
        {"kind": "sweep", "parameter": "VCF RES", "start": start, "stop": stop, "steps": steps}
    )
    got = [t["VCF RES"] for t in sampling.tones(s, 0, range(steps))]
    assert sampling.source_length(s) == steps
    assert got[0] == start and got[-1] == stop
    assert got == sorted(got) or got == sorted(got, reverse=True)


def test_sweep_on_a_bank_tone_with_explicit_values(jx8p_banks: list[Path]) -> None:
    base = bank_tones(jx8p_banks[2])[5]
    s = spec(
        {"kind": "sweep", "parameter": "lfo_wf", "values": [2, 0]},
        base={"bank": str(jx8p_banks[2]), "index": 5},
    )
    a, b = sampling.tones(s, 0, range(2))
    assert a == base.replace(lfo_wf=128 * 2 // 4) and b == base.replace(lfo_wf=0)
    assert a.name == base.name


def test_list_source_applies_value_dicts_on_the_base() -> None:
    s = spec(
        {"kind": "list", "tones": [{"vcf_freq": 10}, {"VCF RES": 99, "DCO1 WF": "noise"}]},
        base={"values": {"VCA LEVEL": 90}},
    )
    assert sampling.source_length(s) == 2
    a, b = sampling.tones(s, 0, [0, 1])
    assert a == INIT_TONE.replace(vca_level=90, vcf_freq=10)
    assert b == INIT_TONE.replace(vca_level=90, vcf_res=99, dco1_wf=0)


def test_unbounded_sources_have_no_length() -> None:
    for kind in RANDOM_KINDS:
        assert sampling.source_length(spec({"kind": kind})) is None


# -- fixed and locked parameters on top of any source -------------------------------------
@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from([*RANDOM_KINDS, "bank"]),
    vary=st.none() | st.lists(st.sampled_from(NAMES), min_size=1, max_size=8, unique=True),
    fixed=st.dictionaries(st.sampled_from(NAMES), st.integers(0, 127), max_size=6),
    index=st.integers(0, 31),
)
def test_fixed_and_locked_parameters_are_honoured(
    jx8p_banks: list[Path], kind: str, vary: list[str] | None, fixed: dict[str, int], index: int
) -> None:
    if vary is not None:
        fixed = {k: v for k, v in fixed.items() if k not in vary}
    source = {"kind": kind, "banks": [str(jx8p_banks[0])]} if kind == "bank" else {"kind": kind}
    base = {"values": {"VCF FREQ": 33, "ENV2 KEY": "2"}}
    s = spec(source, vary=vary, fixed=fixed, base=base)
    base_tone = INIT_TONE.replace(vcf_freq=33, env2_key=64)
    tone = sampling.tone(s, 77, index)
    for name, value in fixed.items():
        assert tone[name] == value
    if vary is not None:
        for p in TONE_PARAMETERS:
            if p.name not in vary and p.name not in fixed:
                assert tone.value(p) == base_tone.value(p), p.name
    elif kind == "bank":  # the bank's own tone, name and all, apart from the fixed values
        bank_tone = bank_tones(jx8p_banks[0])[index]
        assert tone == Tone.from_values(fixed, base=bank_tone)
