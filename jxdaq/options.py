"""Options whose defaults live in the config objects they set (one place per default).

Such an option defaults to None, meaning "not given", and the command passes on only what was
given, so the object's own default applies: ``TrainConfig(**given(epochs=epochs, ...))``. The
config modules are not imported to write the help (that would cost every ``jxdaq --help`` the
import of torch or numpy); the help names where the default is.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

LogFormatOption = Annotated[
    str | None, typer.Option(help="text (logfmt) or json; default: daq.logs.configure's")
]
LogLevelOption = Annotated[
    str | None,
    typer.Option(help="debug, info, warning or error; default: daq.logs.configure's"),
]


def given(**options: Any) -> dict[str, Any]:
    """The options the user gave: those that are not None."""
    return {name: value for name, value in options.items() if value is not None}


def configure_logs(log_format: str | None, log_level: str | None = None) -> None:
    """``daq.logs.configure`` with what was given; a bad value is a usage error naming it."""
    from daq.logs import configure

    try:
        configure(**given(fmt=log_format, level=log_level))
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
