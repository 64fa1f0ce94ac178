"""The server's log never shows a one-time WebSocket ticket.

uvicorn logs each request's path with its query string: HTTP requests on ``uvicorn.access``,
WebSocket handshakes (``"WebSocket /ws/home/?ticket=..." [accepted]``, or 403) on
``uvicorn.error``. A ticket opens a socket as its user until it is redeemed, and a refused or
abandoned handshake leaves it unredeemed, so anyone reading the log could use it. The filter
here replaces every ``ticket`` query value with ``[redacted]`` before a line is written. It is
installed when the ASGI application loads (homeservice/asgi.py), so it applies however the server
is started: ``make run``, docker-compose or the image's command.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

SERVER_LOGGERS = ("uvicorn.access", "uvicorn.error")
REDACTED = "[redacted]"
_TICKET_VALUE = re.compile(r"([?&]ticket=)[^&\s\"']*")


def redact_tickets(text: str) -> str:
    """``text`` with the value of each ``ticket`` query parameter replaced."""
    return _TICKET_VALUE.sub(rf"\g<1>{REDACTED}", text) if "ticket=" in text else text


def _redacted(value: object) -> object:
    return redact_tickets(value) if isinstance(value, str) else value


class TicketRedaction(logging.Filter):
    """Rewrites a record's message and arguments in place (keeping their shape: uvicorn's access
    formatter unpacks the arguments); never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_tickets(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(arg) for arg in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {key: _redacted(value) for key, value in record.args.items()}
        return True


def install() -> None:
    """Add the filter to the server's loggers (once)."""
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, TicketRedaction) for existing in logger.filters):
            logger.addFilter(TicketRedaction())
