"""The voice allocator never gives one voice to two sounding keys."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from daq.instruments.allocation import VoiceAllocator


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 127)), max_size=60))
def test_allocator_never_gives_one_voice_to_two_sounding_keys(actions):
    allocator = VoiceAllocator(voices=6)
    for press, key in actions:
        if press:
            voice = allocator.on(key)
            assert 0 <= voice < 6
        else:
            allocator.off(key)
        sounding = allocator.sounding()
        assert len(set(sounding.values())) == len(sounding) <= 6
