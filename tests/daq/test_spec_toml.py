"""Job specs written back to TOML read back equal (and any JSON-like table round-trips)."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daq.spec import JobSpec, load_spec
from daq.spec_toml import dump_spec, dumps

scalars = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(), values, max_size=6))
def test_any_json_like_table_round_trips(table):
    assert tomllib.loads(dumps(table)) == table


def test_a_resynthesis_like_spec_round_trips_through_load_spec(tmp_path):
    spec = JobSpec.model_validate(
        {
            "name": 'resynthesis of "tiny"/test',
            "source": {"kind": "list", "tones": [{"VCF FREQ": 3, "DCO1 WF": "saw"}, {}]},
            "base": {"values": {"VCA LEVEL": 100}},
            "capture": {"hold_s": 4.0, "notes": [{"key": 69}, {"key": 73, "start_s": 1.0}]},
            "seed": 9,
        }
    )
    path = tmp_path / "spec.toml"
    path.write_text(dump_spec(spec, "made by a test\nsecond line"))
    text = path.read_text()
    assert text.startswith("# made by a test\n# second line\n")
    assert "tones = [\n" in text  # one tone per line
    assert load_spec(path) == spec


def test_none_cannot_be_written():
    spec = JobSpec.model_validate(
        {"source": {"kind": "uniform"}, "count": 1, "capture": {"tail": {"silence_db": None}}}
    )
    with pytest.raises(ValueError, match=r"capture\.tail\.silence_db is None"):
        dump_spec(spec)
