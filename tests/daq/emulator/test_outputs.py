"""The served emulator's output map: parsing ``--outputs`` and routing boards to channels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from daq.emulator.board import mix
from daq.emulator.outputs import BOARD_CHANNELS, OutputMap, Source

maps = (
    st.lists(st.sampled_from([None, *Source]), min_size=1, max_size=8)
    .filter(any)
    .map(lambda sources: OutputMap(tuple(sources)))
)


@given(maps)
def test_a_map_written_out_parses_back_to_itself(output_map: OutputMap):
    assert OutputMap.parse(str(output_map), output_map.channels) == output_map


def test_mix_plays_the_mix_on_every_channel_and_is_the_default_of_one_channel():
    assert OutputMap.parse("mix") == OutputMap((Source.MIX,))
    assert OutputMap.parse("mix", 2) == OutputMap((Source.MIX, Source.MIX))


def test_boards_puts_each_board_on_the_channel_board_channels_names():
    output_map = OutputMap.parse("boards", 4)
    assert output_map.channels == 4
    for board, channel in BOARD_CHANNELS.items():
        assert output_map.sources[channel - 1] == Source(board.name.lower())
    assert output_map.sources.count(None) == 2


def test_an_explicit_map_is_as_wide_as_its_highest_channel_unless_told():
    assert OutputMap.parse(" lower = 3, upper=4 ") == OutputMap(
        (None, None, Source.LOWER, Source.UPPER)
    )
    assert OutputMap.parse("upper=1", 3) == OutputMap((Source.UPPER, None, None))


@pytest.mark.parametrize(
    ("text", "channels", "names"),
    [
        ("lower", None, "'lower' is not SOURCE=CHANNEL"),
        ("left=1", None, "unknown source 'left'"),
        ("lower=0", None, "channel '0' is not a number from 1"),
        ("lower=x", None, "channel 'x' is not a number from 1"),
        ("lower=1,upper=1", None, "channel 1 is named twice"),
        ("upper=3", 2, "channel 3 is past the 2 channels"),
        ("mix", 0, "channels must be at least 1"),
        ("", None, "'' is not SOURCE=CHANNEL"),
    ],
)
def test_bad_outputs_are_refused_naming_the_item(text: str, channels: int | None, names: str):
    with pytest.raises(ValueError, match=names):
        OutputMap.parse(text, channels)


def test_a_map_without_any_source_is_refused():
    with pytest.raises(ValueError, match="at least one channel"):
        OutputMap((None, None))


boards_audio = arrays(
    np.float32, st.tuples(st.just(2), st.integers(1, 64)), elements=st.floats(-2, 2, width=32)
)


@given(output_map=maps, boards=boards_audio)
def test_fill_routes_each_source_to_its_channels_clipped_and_silences_the_rest(
    output_map: OutputMap, boards: np.ndarray
):
    out = np.full((boards.shape[1], output_map.channels), np.nan, np.float32)
    output_map.fill(boards, out)
    lower, upper = boards  # BoardEmulator.process: lower then upper
    expected = {
        None: np.zeros_like(lower),
        Source.MIX: mix(boards),
        Source.LOWER: np.clip(lower, -1, 1),
        Source.UPPER: np.clip(upper, -1, 1),
    }
    for channel, source in enumerate(output_map.sources):
        np.testing.assert_array_equal(out[:, channel], expected[source])
