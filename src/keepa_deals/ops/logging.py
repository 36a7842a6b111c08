"""Logging: structlog configured once, stdlib logging routed through it.

::

    from keepa_deals.ops import logging as ops_logging

    ops_logging.configure(settings)              # once, at process start
    log = ops_logging.get_logger(__name__)
    with ops_logging.run_context(run_id=42, query="used-books-us"):
        log.info("run started")                  # every line of the run carries run_id

* ``KEEPA_DEALS_LOG_FORMAT=json``: one JSON object per line (production);
  ``console`` (the default): aligned, readable lines for people.
* Every record, whether from structlog or from a stdlib ``logging`` logger
  (the budget, the Keepa client, the store, uvicorn), goes through the same
  processors: context variables (``run_id`` ...), level, logger, an ISO UTC
  timestamp, and, last before rendering, :func:`redact_event`, which masks
  ``key=<...>`` and the configured Keepa key wherever they appear.
* httpx and httpcore log one line per request at INFO; they are held at
  WARNING so that a waiting or polling loop stays quiet (see the log volume
  in docs/operations.md).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

from keepa_deals.keepa.redact import redact

if TYPE_CHECKING:
    from keepa_deals.settings import Settings

#: Loggers too chatty at INFO (one line per HTTP request); held at WARNING.
QUIET_LOGGERS = ("httpx", "httpcore", "uvicorn.access", "alembic.runtime.migration")

_lock = threading.Lock()
_configured: tuple[str, str, int] | None = None
_secret: str | None = None


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Our root handler, so a reconfiguration replaces it and nothing else."""


def redact_event(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """Mask the Keepa key (``key=...`` and the configured key itself) in every value."""
    return _redact_mapping(event_dict)


def _redact_mapping(d: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for name, value in list(d.items()):
        d[name] = _redact_value(value)
    return d


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value, _secret)
    if isinstance(value, dict):
        return _redact_mapping(dict(value))
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v) for v in value)
    if isinstance(value, BaseException):
        return redact(f"{type(value).__name__}: {value}", _secret)
    return value


def _shared() -> list[Processor]:
    chain: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        # tracebacks become text here, so redact_event sees them too
        structlog.processors.format_exc_info,
    ]
    return chain


def configure(
    settings: Settings | None = None,
    *,
    fmt: str | None = None,
    level: str | int | None = None,
    stream: IO[str] | None = None,
    force: bool = False,
) -> None:
    """Configure structlog and the stdlib root logger (idempotent unless ``force``).

    ``fmt`` and ``level`` default to ``settings.log_format`` / ``settings.log_level``
    (``console`` / ``INFO`` without settings); ``stream`` defaults to stderr.
    """
    global _configured, _secret
    fmt = fmt or (settings.log_format if settings is not None else "console")
    if fmt not in ("console", "json"):
        raise ValueError(f"log format must be 'console' or 'json', not {fmt!r}")
    raw_level = level if level is not None else (settings.log_level if settings else "INFO")
    numeric = (raw_level if isinstance(raw_level, int)
               else logging.getLevelName(str(raw_level).upper()))
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {raw_level!r}")
    target = stream if stream is not None else sys.stderr
    key = (fmt, str(id(target)), numeric)
    with _lock:
        if _configured == key and not force:
            return
        if settings is not None and settings.keepa_api_key is not None:
            _secret = settings.keepa_api_key.get_secret_value()
        shared = _shared()
        renderer: Processor
        if fmt == "json":
            renderer = structlog.processors.JSONRenderer(default=str)
        else:
            renderer = structlog.dev.ConsoleRenderer(colors=False)
        structlog.configure(
            processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=False,
        )
        formatter = structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                redact_event,
                renderer,
            ],
        )
        root = logging.getLogger()
        for handler in list(root.handlers):
            if isinstance(handler, _Handler):
                root.removeHandler(handler)
        handler = _Handler(target)
        handler.setFormatter(formatter)
        root.addHandler(handler)
        root.setLevel(numeric)
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(max(logging.WARNING, numeric))
        _configured = key


def get_logger(name: str | None = None) -> Any:
    """A structlog logger (stdlib-backed, so it honours the configured level)."""
    return structlog.stdlib.get_logger(name)


@contextmanager
def run_context(**fields: Any) -> Iterator[None]:
    """Bind ``fields`` (``run_id=...``, ``query=...``) into every log line inside the block."""
    with structlog.contextvars.bound_contextvars(**fields):
        yield


def bind(**fields: Any) -> None:
    """Bind ``fields`` for the rest of the current context (a thread, a task)."""
    structlog.contextvars.bind_contextvars(**fields)


def unbind(*names: str) -> None:
    structlog.contextvars.unbind_contextvars(*names)


__all__ = ["QUIET_LOGGERS", "bind", "configure", "get_logger", "redact_event", "run_context",
           "unbind"]
