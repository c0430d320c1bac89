"""The training fixtures (tests/support/training_support.py)."""

from training_support import _one_torch_thread, captured_dataset  # noqa: F401  (fixtures)
