"""Options whose defaults live in the config objects they set (one place per default).

Such an option defaults to None, meaning "not given", and the command passes on only what was
given, so the object's own default applies: ``TrainConfig(**given(epochs=epochs, ...))``. The
config modules are not imported to write the help (that would cost every ``jxdaq --help`` the
import of torch or numpy); the help names where the default is.
"""

from __future__ import annotations

from typing import Any


def given(**options: Any) -> dict[str, Any]:
    """The options the user gave: those that are not None."""
    return {name: value for name, value in options.items() if value is not None}
