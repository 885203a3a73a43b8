"""Logging as events: a stable event name plus fields, never a sentence to parse.

``log_event(logger, logging.WARNING, "http.retry_scheduled", attempt=2, ...)``
writes one record whose message is the event and its fields (for people and for
Application Insights traces) and whose ``event`` and ``fields`` attributes carry the
same data for tests and handlers. Callers pass ids, statuses and paths; a field
whose name says it is a secret is masked anyway, as a second line of defence.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["log_event"]

_SECRET_WORDS = (
    "secret",
    "token",
    "password",
    "authorization",
    "api_key",
    "webhook_key",
    "function_key",
)
_MASK = "***"


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Log ``event`` at ``level`` with ``fields`` attached (secrets masked)."""
    if not logger.isEnabledFor(level):
        return
    safe = {name: _safe(name, value) for name, value in fields.items()}
    logger.log(
        level,
        "%s %s",
        event,
        _Fields(safe),
        extra={"event": event, "fields": safe},
        stacklevel=2,
    )


def _safe(name: str, value: Any) -> Any:
    lowered = name.lower()
    if any(word in lowered for word in _SECRET_WORDS) and value is not None:
        return _MASK
    return value


class _Fields(dict[str, Any]):
    """Renders fields as ``k=v`` pairs only when the record is formatted."""

    def __str__(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.items())
