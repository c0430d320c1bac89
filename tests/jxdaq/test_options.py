"""CLI option defaults live in the config objects the options set, never twice.

Every option of a command that has the name of a field of the object it sets defaults to None
(not given), so the object's own default applies; a literal default there would be a second
copy of the fact that could drift from the first.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from daq.calibration import measure_latency
from daq.rigs.base import FaultPolicy
from daq.rigs.calibration import DriftPolicy
from daq.worker import Worker
from jxdaq.cli import app
from jxdaq.options import given
from models.train import TrainConfig


def _fields(config: type) -> dict[str, object]:
    """A config's fields and their defaults (pydantic models, dataclasses, plain __init__s)."""
    if hasattr(config, "model_fields"):
        return {name: field.default for name, field in config.model_fields.items()}
    if dataclasses.is_dataclass(config):
        return {f.name: f.default for f in dataclasses.fields(config)}
    parameters = inspect.signature(config).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


#: command -> (the objects its options set, the prefix its option names add to their fields)
SETS = {
    "train": ((TrainConfig,), ""),
    "worker": ((Worker, FaultPolicy), ""),
    "worker/drift": ((DriftPolicy,), "drift_"),
    "rig calibrate": ((measure_latency,), ""),
}


def _command(path: str) -> Any:
    command = typer.main.get_command(app)
    for name in path.split("/")[0].split():
        command = command.commands[name]  # type: ignore[attr-defined]
    return command


@pytest.mark.parametrize("path", SETS)
def test_options_that_set_a_config_field_take_its_default_from_it(path):
    configs, prefix = SETS[path]
    fields = {name for config in configs for name in _fields(config)}
    options = {p.name: p for p in _command(path).params if p.param_type_name == "option"}
    shared = {name for name in options if name.removeprefix(prefix) in fields}
    assert shared, f"no option of {path} sets a field of {configs}: the table is stale"
    literal = {name: options[name].default for name in shared if options[name].default is not None}
    assert not literal, f"{path}: defaults written twice (in the option and the config)"


def test_what_was_not_given_leaves_the_configs_default():
    assert TrainConfig(**given(epochs=None, patience=3)) == TrainConfig(patience=3)
    assert FaultPolicy(**given(silent_takes=None)) == FaultPolicy()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["alerts", "run", "--log-format", "xml"], "log format 'xml': give text or json"),
        (["worker", "--rig", "emulated", "--log-level", "loud"], "log level 'loud': give debug"),
    ],
)
def test_log_options_are_checked_where_their_defaults_are(args, says):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and says in result.output, result.output
