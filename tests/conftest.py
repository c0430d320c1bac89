"""Shared fixtures: the real JX data in ../shared/data (present in CI too)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


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
