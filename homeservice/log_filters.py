"""Logging filters: a client's mistake is one log line, not a traceback."""

from __future__ import annotations

import logging


class ClientErrorWithoutTraceback(logging.Filter):
    """Drop the traceback from ``django.request``'s record of a 4xx answer.

    Django logs a ``PermissionDenied`` (403) or a bad request with the exception attached; that is
    an expected answer to the client, so the line says what happened and the stack is left out.
    Server errors (5xx) keep theirs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
