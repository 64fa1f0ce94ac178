"""The catalogue version a client renders with (docs/sdui.md, "Client versions").

HTTP clients send ``X-SDUI-Version: <int>``; WebSocket clients send the same header on the
handshake, or ``?sdui=<int>`` (browsers cannot set handshake headers). The rules, the same for
both:

- missing: the newest catalogue (a client that says nothing is assumed current; old clients in
  the field are expected to send their version, since they shipped with this header);
- not a whole number, or below 1: an ``invalid_client_version`` error;
- above the newest catalogue: the newest (a client newer than the server renders everything the
  server knows).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qs

from homeservice.errors import ApplicationError
from ui_templates.catalogue import CATALOGUE_VERSION

HEADER = "X-SDUI-Version"
QUERY_PARAMETER = "sdui"
INVALID_CLIENT_VERSION = "invalid_client_version"

_DIGITS = re.compile(r"[0-9]+")


def check_client_version(raw: str | None, *, source: str = HEADER) -> int | None:
    """The catalogue version to render for (None: the newest), or ApplicationError naming ``source``."""
    if raw is None:
        return None
    text = raw.strip()
    significant = text.lstrip("0")
    if not _DIGITS.fullmatch(text) or not significant:  # not a whole number, or zero
        raise ApplicationError(
            INVALID_CLIENT_VERSION,
            f"{source} must be a whole number of at least 1 (the component catalogue version the client "
            f"renders; the newest is {CATALOGUE_VERSION}), got {raw!r}.",
            details={"header" if source == HEADER else "parameter": source, "value": raw},
        )
    # Any number of digits is a version; one above the newest means the newest.
    return CATALOGUE_VERSION if len(significant) > 9 else min(int(significant), CATALOGUE_VERSION)


def client_version_from_scope(scope: dict[str, object]) -> int | None:
    """A WebSocket handshake's version: the ``X-SDUI-Version`` header, else ``?sdui=``."""
    headers = scope.get("headers") or ()
    assert isinstance(headers, Iterable)
    for key, value in headers:
        if key.lower() == HEADER.lower().encode():
            return check_client_version(value.decode("latin-1"), source=HEADER)
    query_string = scope.get("query_string") or b""
    assert isinstance(query_string, bytes)
    values = parse_qs(query_string.decode("latin-1"), keep_blank_values=True).get(QUERY_PARAMETER)
    if values is None:
        return None
    return check_client_version(values[-1], source=f"?{QUERY_PARAMETER}=")
