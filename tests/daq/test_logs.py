"""Structured log lines: one event per line with named fields, as logfmt (quoted where a value
holds a space, a quote, '=' or a backslash) or JSON, at the configured level only."""

from __future__ import annotations

import io
import json
import logging
import shlex
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daq.logs import configure, log_event

LOGGER = logging.getLogger("jxdaq.test")


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """What the ``jxdaq`` loggers write, restored afterwards."""
    root = logging.getLogger("jxdaq")
    saved = (root.handlers[:], root.level, root.propagate)
    stream = io.StringIO()
    yield stream
    root.handlers[:], root.level, root.propagate = saved


def test_logfmt_names_each_field_and_leaves_out_none(lines):
    configure("text", "info", lines)
    log_event(LOGGER, "take.stored", rig="board-a", job=3, index=17, lane=None, level_db=-12.5)
    (line,) = lines.getvalue().splitlines()
    fields = dict(pair.split("=", 1) for pair in line.split(" "))
    assert fields["event"] == "take.stored" and fields["level"] == "info"
    assert (fields["rig"], fields["job"], fields["index"]) == ("board-a", "3", "17")
    assert fields["level_db"] == "-12.5" and "lane" not in fields
    assert fields["ts"].endswith("Z")


@given(value=st.text(max_size=30))
def test_a_logfmt_value_reads_back_whatever_it_holds(value):
    stream = io.StringIO()
    root = logging.getLogger("jxdaq")
    saved = (root.handlers[:], root.level, root.propagate)
    try:
        configure("text", "info", stream)
        log_event(LOGGER, "said", reason=value)
    finally:
        root.handlers[:], root.level, root.propagate = saved
    line = stream.getvalue().rstrip("\n")
    assert "\n" not in line
    raw = line.split(" reason=", 1)[1]
    assert (json.loads(raw) if raw.startswith('"') else raw) == value


def test_json_lines_carry_the_same_fields(lines):
    configure("json", "info", lines)
    log_event(LOGGER, "rig.faulted", rig="board-a", reason='port "x" vanished')
    (record,) = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert record["event"] == "rig.faulted" and record["reason"] == 'port "x" vanished'


def test_events_below_the_level_are_not_written(lines):
    configure("text", "warning", lines)
    log_event(LOGGER, "take.stored", job=1)
    log_event(LOGGER, "rig.faulted", logging.ERROR, job=1)
    assert [shlex.split(line)[2] for line in lines.getvalue().splitlines()] == ["event=rig.faulted"]


@pytest.mark.parametrize(("fmt", "level", "named"), [("xml", "info", "text or json"),
                                                     ("text", "loud", "debug, info")])  # fmt: skip
def test_an_unknown_format_or_level_names_the_allowed_ones(fmt, level, named):
    with pytest.raises(ValueError, match=named):
        configure(fmt, level, io.StringIO())
