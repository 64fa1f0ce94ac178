"""The server's log lines never show a WebSocket ticket (homeservice/access_log.py).

The records below are shaped exactly as uvicorn logs them: an HTTP request on ``uvicorn.access``
and a WebSocket handshake on ``uvicorn.error``. tests/e2e/test_server_command.py checks the same
on a real server, for every way the project starts one.
"""

from __future__ import annotations

import logging

import pytest

from homeservice.access_log import SERVER_LOGGERS, TicketRedaction, redact_tickets

TICKET = "Zm9vYmFyLXRpY2tldC12YWx1ZS0xMjM0NTY3ODkw"


def record(logger: str, msg: str, args: tuple[object, ...]) -> logging.LogRecord:
    return logging.LogRecord(logger, logging.INFO, __file__, 1, msg, args, None)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"/ws/home/?ticket={TICKET}", "/ws/home/?ticket=[redacted]"),
        (f"/ws/home/?resume=1&ticket={TICKET}", "/ws/home/?resume=1&ticket=[redacted]"),
        (f"/ws/home/?ticket={TICKET}&resume=1", "/ws/home/?ticket=[redacted]&resume=1"),
        ("/ws/home/?ticket=", "/ws/home/?ticket=[redacted]"),
        ("/api/v1/home/?tickets=3", "/api/v1/home/?tickets=3"),
        ("/api/v1/home/", "/api/v1/home/"),
    ],
)
def test_ticket_values_are_replaced_and_nothing_else(path: str, expected: str) -> None:
    assert redact_tickets(path) == expected


def test_an_access_log_record_keeps_its_shape_without_the_ticket() -> None:
    access = record(
        "uvicorn.access",
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/healthz?ticket={TICKET}", "1.1", 200),
    )

    assert TicketRedaction().filter(access)

    assert access.args == ("127.0.0.1:5000", "GET", "/healthz?ticket=[redacted]", "1.1", 200)
    assert TICKET not in access.getMessage()


def test_a_websocket_handshake_record_loses_the_ticket() -> None:
    handshake = record(
        "uvicorn.error", '%s - "WebSocket %s" [accepted]', ("127.0.0.1:5000", f"/ws/home/?ticket={TICKET}")
    )

    TicketRedaction().filter(handshake)

    assert handshake.getMessage() == '127.0.0.1:5000 - "WebSocket /ws/home/?ticket=[redacted]" [accepted]'


def test_loading_the_application_installs_the_redaction_on_the_server_loggers() -> None:
    import homeservice.asgi  # noqa: F401  (installs on import)

    assert SERVER_LOGGERS == ("uvicorn.access", "uvicorn.error")
    for name in SERVER_LOGGERS:
        assert [f for f in logging.getLogger(name).filters if isinstance(f, TicketRedaction)], name
