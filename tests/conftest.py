"""Shared fixtures: the real JX data in ../shared/data (present in CI too)."""

from __future__ import annotations

import contextlib
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

# `make test` runs the tests in two rounds: everything but the device tests on several
# processes (pytest-xdist), then the device tests (`-m devices`) on one, alone. They play or
# record through the machine's one PulseAudio and one JACK server: two emulators on one JACK
# server would take each other's port names, and a real-time take must not share the CPU.
# A test that uses the `sink` fixture is a device test whether it says so or not.
#: The nice value of the device tests' processes (ordinary: 0; PulseAudio runs at -11).
HARDWARE_NICE = -10


def _plays_through_devices(item: pytest.Item) -> bool:
    return bool(item.get_closest_marker("devices")) or "sink" in getattr(item, "fixturenames", ())


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by mark
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _plays_through_devices(item):
            item.add_marker(pytest.mark.devices)
            item.add_marker(pytest.mark.xdist_group("devices"))  # one process, if run with -n


@pytest.fixture(autouse=True)
def _hardware_priority(request: pytest.FixtureRequest) -> None:
    """The emulated board stands in for hardware, which never waits for a CPU: a device
    test's process, and the emulators and workers it starts (they inherit it), go before the
    other tests' processes, so a busy machine cannot make the board's sound late or broken.
    Root only (as in CI); elsewhere they keep the ordinary priority."""
    if _plays_through_devices(request.node):
        with contextlib.suppress(PermissionError):
            os.setpriority(os.PRIO_PROCESS, 0, HARDWARE_NICE)


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
