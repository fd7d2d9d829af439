"""Structured logs (structlog): one JSON event per line in server mode, readable in a console.

Message id and resource uuid are bound as context variables by the service framework,
so every line logged while handling a message carries them. Values of keys naming a
password, an API key or a session are replaced by `******`.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_configured = False


# keys whose values are secrets: never written to a log, whoever logs them
_SECRET_KEYS = ("password", "apikey", "session")


def _redact(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in event:
        if any(secret in key.lower() for secret in _SECRET_KEYS):
            event[key] = "******"
    return event


def configure(*, json: bool = False, level: str = "INFO", stream: Any = None) -> None:
    global _configured
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _redact,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info if json else structlog.dev.set_exc_info,
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
    _configured = True


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)


bind = structlog.contextvars.bind_contextvars
unbind = structlog.contextvars.unbind_contextvars
bound = structlog.contextvars.bound_contextvars
