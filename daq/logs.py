"""Structured log lines for daemons: logfmt for people and files, JSON lines for collectors.

Every line is one event with named fields (``event=take.stored rig=board-a job=3 index=17``),
so a multi-day run can be grepped, tailed and shipped without parsing prose.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]
#: The formats and levels ``configure`` takes, for the commands that name them.
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    at = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
    return {
        "ts": at.replace("+00:00", "Z"),
        "level": record.levelname.lower(),
        "event": record.getMessage(),
        **getattr(record, "fields", {}),
    }


def _logfmt_value(value: Any) -> str:
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    if text == "" or any(c in text for c in ' "=\\'):
        return json.dumps(text)
    return text


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in _fields(record).items())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), default=str)


def configure(fmt: LogFormat = "text", level: str = "INFO", stream: TextIO = sys.stderr) -> None:
    """Send the ``jxdaq`` loggers' events to ``stream``, one line each. A format or level
    outside :data:`LOG_FORMATS` / :data:`LOG_LEVELS` is a ValueError naming the allowed ones."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format {fmt!r}: give {' or '.join(LOG_FORMATS)}")
    if level.lower() not in LOG_LEVELS:
        raise ValueError(f"log level {level!r}: give {', '.join(LOG_LEVELS)}")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger("jxdaq")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def log_event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log event ``name`` with its fields (None values are left out)."""
    if logger.isEnabledFor(level):
        kept = {k: v for k, v in fields.items() if v is not None}
        logger.log(level, name, extra={"fields": kept})
