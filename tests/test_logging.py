"""What the log shows: each record once, and an expected 4xx as one line without a traceback."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.ui_templates.admin_helpers import client_for, marketer

pytestmark = pytest.mark.django_db


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def at_root() -> Iterator[Collect]:
    handler = Collect()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def handlers_reached_from(name: str) -> list[logging.Handler]:
    """The handlers a record logged on ``name`` passes through, as ``Logger.callHandlers`` walks."""
    found: list[logging.Handler] = []
    logger: logging.Logger | None = logging.getLogger(name)
    while logger is not None:
        found.extend(logger.handlers)
        logger = logger.parent if logger.propagate else None
    return found


def test_a_request_warning_reaches_one_console_handler() -> None:
    # Django's own console handler (on with DEBUG) printed each django.request line a second time.
    consoles = [h for h in handlers_reached_from("django.request") if type(h) is logging.StreamHandler]  # not pytest's
    assert len(consoles) == 1
    assert consoles[0] in logging.getLogger().handlers


def test_an_admin_403_is_one_line_without_a_traceback(at_root: Collect) -> None:
    assert client_for(marketer()).get("/admin/auth/user/").status_code == 403

    (record,) = [r for r in at_root.records if r.name == "django.request"]
    assert record.getMessage() == "Forbidden (Permission denied): /admin/auth/user/"
    assert record.exc_info is None
    assert "Traceback" not in logging.Formatter().format(record)


def test_a_server_error_keeps_its_traceback(at_root: Collect) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        logging.getLogger("django.request").error("Internal Server Error: /x", exc_info=exc, extra={"status_code": 500})
    (record,) = [r for r in at_root.records if r.name == "django.request"]
    assert "RuntimeError: boom" in logging.Formatter().format(record)
