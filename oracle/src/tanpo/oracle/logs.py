"""Structured logs: one JSON object per line (``--log-format json``, the default) or text.

Call :func:`log_event` with an event name and fields; both formats show the same fields::

    {"ts": "2024-01-09T22:30:01.123Z", "level": "warning", "logger": "tanpo.oracle.daemon",
     "event": "refused", "date": "2008-10-08", "instrument": "USDJPY", "rule": "move", ...}
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging", "log_event"]

_FIELDS = "tanpo_fields"
_LOGGER = "tanpo.oracle"


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO,
              **fields: Any) -> None:
    """Log ``event`` with structured ``fields``."""
    logger.log(level, event, extra={_FIELDS: fields})


def _jsonable(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal | Fraction):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, tz=UTC)
        out: dict[str, Any] = {
            "ts": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        out.update(_jsonable(getattr(record, _FIELDS, {})))
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = _jsonable(getattr(record, _FIELDS, {}))
        tail = " ".join(f"{k}={json.dumps(v, ensure_ascii=False, default=str)}"
                        for k, v in fields.items())
        stamp = datetime.fromtimestamp(record.created, tz=UTC).strftime("%H:%M:%S")
        line = f"{stamp} {record.levelname.lower():7} {record.getMessage()} {tail}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _CurrentStderr(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (progress bars and test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def configure_logging(fmt: str = "json", level: str = "info") -> Callable[[], None]:
    """Send ``tanpo.oracle`` logs to stderr; returns a function that undoes it."""
    logger = logging.getLogger(_LOGGER)
    handler = _CurrentStderr()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate

    return restore
