"""Logging: structlog set up once, JSON lines (or console), one event name per occurrence.

The only module that calls ``structlog.configure``. Components log with
``structlog.get_logger()`` and stable snake_case event names (``window_landed``,
``token_refreshed``, ...); ``bind_domain`` puts the ``domain`` on every line a domain's tasks log
(contextvars, so it follows the task). No secret or token value is ever passed to a logger.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

__all__ = ["bind_domain", "configure_logging"]


def configure_logging(level: str = "INFO", fmt: Literal["json", "console"] = "json") -> None:
    """Route structlog to stderr as JSON lines (or human console output) at ``level``."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def bind_domain(domain: str) -> None:
    """Tag every log line of the current task (and tasks it starts) with ``domain``."""
    structlog.contextvars.bind_contextvars(domain=domain)
