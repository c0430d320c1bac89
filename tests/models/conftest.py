"""Torch on one thread: the tiny models here gain nothing from more, and on a shared machine
extra intra-op threads only spin against the other processes (measured: 3-5x slower)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
