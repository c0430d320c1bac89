"""Progress bars: counts and ETA when enabled, nothing at all when not."""

from __future__ import annotations

import io

from rich.console import Console

from models.progress import progress_bars


def _render(enabled: bool) -> str:
    output = io.StringIO()
    bars = progress_bars(enabled)
    bars.live.console = Console(file=output, force_terminal=True, width=100)
    with bars:
        task = bars.add_task("features", total=40)
        bars.update(task, completed=10)
    return output.getvalue()


def test_an_enabled_bar_shows_its_step_and_count():
    shown = _render(True)
    assert "features" in shown and "10/40" in shown


def test_a_disabled_bar_shows_nothing():
    assert _render(False) == ""
