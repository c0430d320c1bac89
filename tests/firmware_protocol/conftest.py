"""The stock MKS-70 bulk dump (../shared/data), read by the sysex and patch tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def stock_dump(shared_data: Path) -> Path:
    return shared_data / "mks70" / "mks70-bulk-dump-stock.syx"
