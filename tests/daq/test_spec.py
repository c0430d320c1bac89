"""Job specs: what operators submit; every mistake must name the field and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from paths import EXAMPLES
from pydantic import ValidationError

from daq.banks import LocalFiles
from daq.spec import TIME_TOLERANCE_S, JobSpec, SpecError, load_spec, validate_spec
from firmware_protocol.sysex import jx8p_bank
from firmware_protocol.tone import INIT_TONE

PRIOR = {"source": {"kind": "prior"}, "count": 10}


def errors_of(data: dict) -> list[tuple[str, str]]:
    """(dotted location, message) of every error the CLI's validation gives for ``data``."""
    with pytest.raises(ValidationError) as caught:
        validate_spec(data, LocalFiles())
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in caught.value.errors()]


def test_example_spec_is_the_readme_job() -> None:
    spec = load_spec(EXAMPLES / "job-prior.toml")
    assert spec.source.kind == "prior" and spec.count == 200
    assert spec.capture.sample_rate == 44100 and spec.capture.channels == 1
    assert spec.capture.hold_s == 4.0 and spec.capture.tail.max_s > 0
    [note] = spec.capture.notes
    assert (note.key, note.start_s, note.duration_s) == (69, 0.0, 4.0)


def test_defaults_make_a_complete_take() -> None:
    spec = JobSpec.model_validate(PRIOR)
    c = spec.capture
    assert c.max_take_s == pytest.approx(c.pre_roll_s + c.hold_s + c.tail.max_s)
    assert spec.rigs == "any" and spec.seed == 0 and spec.count == 10


@pytest.mark.parametrize(
    ("change", "where", "says"),
    [
        ({"capture": {"sample_rate": 22050}}, "capture.sample_rate", "44100, 48000 or 96000"),
        ({"capture": {"channels": 3}}, "capture.channels", "1 or 2"),
        (
            {"capture": {"notes": [{"key": 128}]}},
            "capture.notes.0.key",
            "less than or equal to 127",
        ),
        (
            {"capture": {"notes": [{"velocity": 0}]}},
            "capture.notes.0.velocity",
            "greater than or equal to 1",
        ),
        (
            {"capture": {"notes": [{"start_s": 4.0}]}},
            "capture.notes",
            "notes[0].start_s = 4.0 s is not within the hold",
        ),
        (
            {"capture": {"hold_s": 2, "notes": [{}, {"start_s": 1, "duration_s": 1.5}]}},
            "capture.notes",
            "notes[1] ends at 2.5 s",
        ),
        (
            {"capture": {"notes": [{"duration_s": 0}]}},
            "capture.notes.0.duration_s",
            "greater than 0",
        ),
        ({"capture": {"hold_s": 0}}, "capture.hold_s", "greater than 0"),
        ({"capture": {"settle_s": -1}}, "capture.settle_s", "greater than or equal to 0"),
        (
            {"capture": {"tail": {"silence_db": 6}}},
            "capture.tail.silence_db",
            "less than or equal to 0",
        ),
        ({"capture": {"tail": {"max_s": 1e9}}}, "capture.tail.max_s", "less than or equal to 60"),
        ({"capture": {"pre_roll_s": float("nan")}}, "capture.pre_roll_s", "finite"),
        ({"count": 0}, "count", "greater than or equal to 1"),
        ({"count": None}, "count", "count is required for the prior source"),
        ({"source": {"kind": "sobol"}, "count": 2**30 + 1}, "count", "Sobol limit"),
        (
            {"source": {"kind": "sweep", "parameter": "VCF FREQ"}, "count": 129},
            "count",
            "allowed 1..128",
        ),
        (
            {"source": {"kind": "gaussian"}},
            "source",
            "'uniform', 'sobol', 'prior', 'bank', 'sweep', 'list'",
        ),
        (
            {"source": {"kind": "sweep", "parameter": "VCF FRQ"}},
            "source.sweep.parameter",
            "did you mean 'VCF FREQ'",
        ),
        (
            {"source": {"kind": "sweep", "parameter": "CHORUS", "values": [0, 3]}},
            "source.sweep",
            "allowed positions 0..2",
        ),
        (
            {"source": {"kind": "sweep", "parameter": "VCF RES", "stop": 128}},
            "source.sweep",
            "stop = 128 is out of range; allowed 0..127",
        ),
        (
            {"source": {"kind": "sweep", "parameter": "VCF RES", "values": [1], "steps": 3}},
            "source.sweep",
            "either values or start/stop/steps",
        ),
        (
            {"source": {"kind": "list", "tones": [{}, {"VCF RES": 128}]}},
            "source.list.tones",
            "tones[1]: VCF RES = 128 is out of range",
        ),
        ({"source": {"kind": "list", "tones": []}}, "source.list.tones", "at least 1 item"),
        (
            {"source": {"kind": "bank", "banks": ["/no/such.syx"]}},
            "source.bank.banks.0",
            "/no/such.syx: cannot read the bank: No such file or directory",
        ),
        ({"fixed": {"vcf_frequency": 3}}, "fixed", "unknown tone parameter 'vcf_frequency'"),
        ({"fixed": {"VCF FREQ": 300}}, "fixed", "VCF FREQ = 300 is out of range; allowed 0..127"),
        ({"fixed": {"DCO1 WF": "sawtooth"}}, "fixed", "labels noise, square, pulse, saw"),
        ({"fixed": {"VCF FREQ": 3, "vcf_freq": 4}}, "fixed", "VCF FREQ is given twice"),
        (
            {"vary": ["VCF FREQ"], "fixed": {"vcf_freq": 3}},
            "vary",
            "both varied and fixed: VCF FREQ",
        ),
        ({"vary": []}, "vary", "at least one parameter"),
        ({"base": {"values": {"VCA MODE": 200}}}, "base.values", "VCA MODE = 200 is out of range"),
        ({"seed": -1}, "seed", "greater than or equal to 0"),
        ({"seed": 2**63}, "seed", "less than or equal to 9223372036854775807"),
        ({"priority": 101}, "priority", "less than or equal to 100"),
        ({"rigs": "bench"}, "rigs", "give 'any' or a list of rig names"),
        ({"rigs": []}, "rigs", "at least one rig name"),
        ({"rigs": ["bench-1", "bad name"]}, "rigs", "rigs[1] = 'bad name'"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
    ],
)
def test_errors_name_the_field_and_what_is_allowed(change: dict, where: str, says: str) -> None:
    data = {**PRIOR, **change}
    errors = errors_of(data)
    assert any(loc == where and says in msg for loc, msg in errors), errors


def test_switch_labels_and_keys_are_accepted_and_normalised() -> None:
    spec = JobSpec.model_validate(
        {**PRIOR, "fixed": {"dco1_wf": "saw", "CHORUS": 0}, "vary": ["vcf_freq", "VCF RES"]}
    )
    assert spec.fixed == {"DCO1 WF": 96, "CHORUS": 0}
    assert spec.vary == ["VCF FREQ", "VCF RES"]


def test_one_note_or_a_melody() -> None:
    one = JobSpec.model_validate({**PRIOR, "capture": {"notes": 60}})
    table = JobSpec.model_validate({**PRIOR, "capture": {"notes": {"key": 60}}})
    assert one.capture.notes == table.capture.notes
    assert one.capture.notes[0].duration_s == 4.0
    melody = [
        {"key": k, "start_s": 0.5 * i, "duration_s": 0.4} for i, k in enumerate(range(60, 65))
    ]
    spec = JobSpec.model_validate({**PRIOR, "capture": {"hold_s": 2.5, "notes": melody}})
    assert [n.key for n in spec.capture.notes] == [60, 61, 62, 63, 64]


@given(
    hold=st.floats(0.1, 30),
    start=st.floats(0, 40),
    duration=st.none() | st.floats(0.001, 40),
)
def test_a_note_is_accepted_exactly_when_it_fits_the_hold(
    hold: float, start: float, duration: float | None
) -> None:
    data = {
        **PRIOR,
        "capture": {"hold_s": hold, "notes": [{"start_s": start, "duration_s": duration}]},
    }
    fits = start < hold and (duration is None or start + duration <= hold + TIME_TOLERANCE_S)
    if fits:
        [note] = JobSpec.model_validate(data).capture.notes
        assert (
            note.duration_s is not None
            and note.start_s + note.duration_s <= hold + TIME_TOLERANCE_S
        )
    else:
        assert any(loc == "capture.notes" for loc, _ in errors_of(data))


def test_bounded_sources_default_to_their_length(jx8p_banks: list[Path]) -> None:
    bank = validate_spec({"source": {"kind": "bank", "banks": [str(jx8p_banks[0])]}}, LocalFiles())
    sweep = JobSpec.model_validate({"source": {"kind": "sweep", "parameter": "CHORUS"}})
    listed = JobSpec.model_validate({"source": {"kind": "list", "tones": [{}, {}, {}]}})
    assert (bank.count, sweep.count, listed.count) == (32, 3, 3)


def test_base_tone_index_must_be_in_the_bank(jx8p_banks: list[Path]) -> None:
    errors = errors_of({**PRIOR, "base": {"bank": str(jx8p_banks[0]), "index": 32}})
    assert any(loc == "base" and "allowed 0..31" in msg for loc, msg in errors), errors


def test_spec_is_immutable() -> None:
    spec = JobSpec.model_validate(PRIOR)
    with pytest.raises(ValidationError):
        spec.count = 3  # type: ignore[misc]


# -- TOML files ---------------------------------------------------------------------------
def test_bad_toml_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('count = 3\n[source\nkind = "prior"\n')
    with pytest.raises(SpecError, match=r"broken\.toml: not valid TOML: .*line 2"):
        load_spec(path)


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"nothing\.toml: cannot read the spec"):
        load_spec(tmp_path / "nothing.toml")


def test_invalid_spec_file_lists_every_error_with_its_field(tmp_path: Path) -> None:
    path = tmp_path / "job.toml"
    path.write_text('count = 0\n[source]\nkind = "prior"\n[capture]\nchannels = 5\n')
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: 2 errors in the job spec")
    assert "count: Input should be greater than or equal to 1 (got 0)" in text
    assert "capture.channels: Input should be 1 or 2 (got 5)" in text


def test_bank_paths_are_relative_to_the_spec_file(tmp_path: Path) -> None:
    (tmp_path / "banks").mkdir()
    (tmp_path / "banks" / "mine.syx").write_bytes(
        jx8p_bank([INIT_TONE, INIT_TONE.replace(vcf_res=9)])
    )
    path = tmp_path / "job.toml"
    path.write_text('[source]\nkind = "bank"\nbanks = ["banks/mine.syx"]\n')
    spec = load_spec(path)
    [bank] = spec.source.banks
    assert bank.name == "mine.syx" and bank.data == (tmp_path / "banks" / "mine.syx").read_bytes()
    assert spec.count == 2
