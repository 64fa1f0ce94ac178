"""WebSocket handshake authentication, in this order:

- ``Authorization: Bearer <access JWT>`` (native clients): the token decides; no Origin needed.
  The header is read by the HTTP rule (``homeservice.fast_path.bearer_token``: simplejwt's), so a
  header refused over HTTP opens no socket.
- ``?ticket=<one-time ticket>`` from ``POST /api/v1/live/ticket/`` (browsers on another origin):
  redeemed once (live_tickets.py); no Origin needed, the ticket itself needed a token.
- The Django session cookie (web): only when the ``Origin`` header is the request's own origin
  (scheme, host and port) or a trusted one, as Django's CSRF check reads it (``origin_allowed``),
  so another site cannot open a socket with the user's cookie (cross-site WebSocket hijacking).

Anything else leaves the user anonymous, and the consumer refuses the handshake. The scope gets
``auth_method`` and ``auth_expires_at`` (epoch seconds when the credential expires, or None); the
consumer closes the connection with 4401 at that moment so the client refreshes its token. When
a ticket cannot be redeemed because Redis is unreachable, the scope says so (``live_unavailable``)
and the consumer answers that instead (close 1013).
"""

from __future__ import annotations

import io
import logging
from typing import Any
from urllib.parse import parse_qs

import redis
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.handlers.asgi import ASGIRequest
from django.middleware.csrf import CsrfViewMiddleware
from django_redis.exceptions import ConnectionInterrupted
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken

from homeservice.fast_path import bearer_token

from .live_tickets import live_ticket_redeem

logger = logging.getLogger(__name__)

_jwt = JWTAuthentication()

TICKET_PARAMETER = "ticket"
# The scope key set when the handshake could not be checked because Redis is unreachable.
UNAVAILABLE = "live_unavailable"


def _header(scope: dict[str, Any], name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


def _query_value(scope: dict[str, Any], name: str) -> str | None:
    query_string = scope.get("query_string") or b""
    values = parse_qs(query_string.decode("latin-1"), keep_blank_values=True).get(name)
    return values[-1] if values else None


@database_sync_to_async
def _user_from_bearer(authorization: bytes) -> tuple[Any, float | None]:
    raw_token = bearer_token(authorization)
    if raw_token is None:
        return AnonymousUser(), None
    try:
        token = _jwt.get_validated_token(raw_token)
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


class _OriginCheck(CsrfViewMiddleware):
    """Django's CSRF middleware, used only for its Origin rule."""

    def __init__(self) -> None:
        super().__init__(lambda request: None)  # type: ignore[arg-type]  # never called


def origin_allowed(scope: dict[str, Any]) -> bool:
    """Is the handshake's ``Origin`` the request's own origin or a trusted one?

    Django's CSRF Origin check, unchanged: the request's own origin is its scheme (``https`` for
    ``wss``, or as ``SECURE_PROXY_SSL_HEADER`` says) with the ``Host`` header (a host
    ``ALLOWED_HOSTS`` accepts, port included); the trusted ones are ``CSRF_TRUSTED_ORIGINS``.
    """
    if _header(scope, b"origin") is None:
        return False
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    request = ASGIRequest({**scope, "type": "http", "method": "GET", "scheme": scheme}, io.BytesIO())
    # A new check each time: it reads CSRF_TRUSTED_ORIGINS once per instance.
    return bool(_OriginCheck()._origin_verified(request))  # type: ignore[attr-defined]  # not in the stubs


class JWTOrSessionAuthMiddleware:
    """Sets ``scope["user"]`` from a Bearer token, else a ticket, else an Origin-checked session."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        authorization = _header(scope, b"authorization")
        ticket = _query_value(scope, TICKET_PARAMETER)
        if authorization is not None:
            user, expires_at = await _user_from_bearer(authorization)
            scope = {**scope, "user": user, "auth_method": "bearer", "auth_expires_at": expires_at}
        elif ticket is not None:
            try:
                user, expires_at = await _user_from_ticket(ticket)
            except (ConnectionInterrupted, redis.RedisError, OSError):
                logger.warning("a live ticket could not be redeemed: Redis is unreachable", exc_info=True)
                user, expires_at = AnonymousUser(), None
                scope = {**scope, UNAVAILABLE: True}
            scope = {**scope, "user": user, "auth_method": "ticket", "auth_expires_at": expires_at}
        elif not origin_allowed(scope):
            scope = {**scope, "user": AnonymousUser(), "auth_method": "none", "auth_expires_at": None}
        else:
            scope = {**scope, "auth_method": "session", "auth_expires_at": None}
        return await self.inner(scope, receive, send)


def websocket_auth(inner: Any) -> Any:
    """Session and cookie middleware outside, the Bearer/ticket/Origin decision inside."""
    return AuthMiddlewareStack(JWTOrSessionAuthMiddleware(inner))
