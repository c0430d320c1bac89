"""``python -m jxdaq``: the console script without an installed entry point (tests, benchmarks)."""

from jxdaq.cli import main

main()
