"""Shared fixtures: the real JX data in ../shared/data (present in CI too)."""

from __future__ import annotations

import os
from pathlib import Path

import paths
import pytest
from hypothesis import settings

# No per-example deadline anywhere: a slow example on a shared machine is not a bug. In CI the
# examples are derandomized, so a verdict is reproducible; locally every run explores anew (and
# the .hypothesis database replays what failed before).
settings.register_profile("dev", deadline=None, print_blob=True)
settings.register_profile("ci", parent=settings.get_profile("dev"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

SHARED_DATA = paths.SHARED_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real JX data not found at {SHARED_DATA}; it must sit beside the checkout")
    return SHARED_DATA


@pytest.fixture(scope="session")
def jx8p_banks(shared_data: Path) -> list[Path]:
    banks = sorted((shared_data / "jx8p-banks").glob("*.syx"))
    assert len(banks) == 13
    return banks
