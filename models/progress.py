"""Progress bars for the long steps of training and evaluation (features, epochs, renders)."""

from __future__ import annotations


def progress_bars(enabled: bool):
    """Rich progress bars with counts, elapsed time and ETA; ``enabled=False`` shows nothing."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
    )
