"""WebSocket handshake authentication, in this order:

- ``Authorization: Bearer <access JWT>`` (native clients): the token decides; no Origin needed.
- ``?ticket=<one-time ticket>`` from ``POST /api/v1/live/ticket/`` (browsers on another origin):
  redeemed once (live_tickets.py); no Origin needed, the ticket itself needed a token.
- The Django session cookie (web): only when the ``Origin`` header names an allowed host, so
  another site cannot open a socket with the user's cookie (cross-site WebSocket hijacking).

Anything else leaves the user anonymous, and the consumer refuses the handshake. The scope gets
``auth_method`` and ``auth_expires_at`` (epoch seconds when the credential expires, or None); the
consumer closes the connection with 4401 at that moment so the client refreshes its token.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken

from .live_tickets import live_ticket_redeem

_jwt = JWTAuthentication()

TICKET_PARAMETER = "ticket"


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _query_value(scope: dict[str, Any], name: str) -> str | None:
    query_string = scope.get("query_string") or b""
    values = parse_qs(query_string.decode("latin-1"), keep_blank_values=True).get(name)
    return values[-1] if values else None


@database_sync_to_async
def _user_from_bearer(raw_token: str) -> tuple[Any, float | None]:
    try:
        token = _jwt.get_validated_token(raw_token.encode())
        user = _jwt.get_user(token)
    except (InvalidToken, AuthenticationFailed):
        return AnonymousUser(), None
    expires_at = token.get("exp")
    return user, float(expires_at) if expires_at else None


@database_sync_to_async
def _user_from_ticket(ticket: str) -> tuple[Any, float | None]:
    grant = live_ticket_redeem(ticket=ticket)
    if grant is None:
        return AnonymousUser(), None
    user = get_user_model().objects.filter(pk=grant.user_id, is_active=True).first()
    if user is None:
        return AnonymousUser(), None
    return user, grant.credential_expires_at


def origin_allowed(origin: str | None) -> bool:
    if not origin:
        return False
    host = urlsplit(origin).hostname
    return host is not None and validate_host(host, settings.ALLOWED_HOSTS)


class JWTOrSessionAuthMiddleware:
    """Sets ``scope["user"]`` from a Bearer token, else a ticket, else an Origin-checked session."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        authorization = _header(scope, b"authorization")
        ticket = _query_value(scope, TICKET_PARAMETER)
        if authorization is not None:
            kind, _, token = authorization.partition(" ")
            user, expires_at = (
                await _user_from_bearer(token.strip()) if kind.lower() == "bearer" else (AnonymousUser(), None)
            )
            scope = {**scope, "user": user, "auth_method": "bearer", "auth_expires_at": expires_at}
        elif ticket is not None:
            user, expires_at = await _user_from_ticket(ticket)
            scope = {**scope, "user": user, "auth_method": "ticket", "auth_expires_at": expires_at}
        elif not origin_allowed(_header(scope, b"origin")):
            scope = {**scope, "user": AnonymousUser(), "auth_method": "none", "auth_expires_at": None}
        else:
            scope = {**scope, "auth_method": "session", "auth_expires_at": None}
        return await self.inner(scope, receive, send)


def websocket_auth(inner: Any) -> Any:
    """Session and cookie middleware outside, the Bearer/ticket/Origin decision inside."""
    return AuthMiddlewareStack(JWTOrSessionAuthMiddleware(inner))
