"""Rigs as devices: one interface (:class:`Rig`), one module per kind, chosen by name.

As pyserial picks a transport module behind ``serial_for_url``, :func:`open_rig` picks the
module for a rigs file's ``instrument``: ``emulated`` -> :mod:`daq.rigs.rendered`,
``serial`` -> :mod:`daq.rigs.serial`, ``midi`` -> :mod:`daq.rigs.midi`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from daq.rigs.config import (
    EMULATED,
    LaneDefinition,
    RigConfigError,
    RigDefinition,
    find_rig,
    load_rigs,
)

if TYPE_CHECKING:
    from daq.rigs.base import Rig

__all__ = [
    "EMULATED",
    "KINDS",
    "LaneDefinition",
    "RigConfigError",
    "RigDefinition",
    "find_rig",
    "load_rigs",
    "open_rig",
]

#: The module and class of each kind of rig, by the rigs file's ``instrument``.
KINDS = {
    "emulated": ("daq.rigs.rendered", "RenderedRig"),
    "serial": ("daq.rigs.serial", "SerialRig"),
    "midi": ("daq.rigs.midi", "MidiRig"),
}


def open_rig(definition: RigDefinition, catalog: Any = None, **options: Any) -> Rig:
    """The (unconnected) rig ``definition`` describes; ``options`` go to :class:`Rig`."""
    module, name = KINDS[definition.instrument]
    rig: Rig = getattr(importlib.import_module(module), name)(definition, catalog, **options)
    return rig
