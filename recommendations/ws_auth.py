"""WebSocket handshake authentication.

- ``Authorization: Bearer <access JWT>`` (native clients): the token decides; no Origin needed.
- The Django session cookie (web): only when the ``Origin`` header names an allowed host, so
  another site cannot open a socket with the user's cookie (cross-site WebSocket hijacking).

Anything else leaves the user anonymous, and the consumer refuses the handshake.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import validate_host
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken

_jwt = JWTAuthentication()


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


@database_sync_to_async
def _user_from_bearer(raw_token: str) -> Any:
    try:
        return _jwt.get_user(_jwt.get_validated_token(raw_token.encode()))
    except (InvalidToken, AuthenticationFailed):
        return AnonymousUser()


def origin_allowed(origin: str | None) -> bool:
    if not origin:
        return False
    host = urlsplit(origin).hostname
    return host is not None and validate_host(host, settings.ALLOWED_HOSTS)


class JWTOrSessionAuthMiddleware:
    """Sets ``scope["user"]`` from a Bearer token, else from an Origin-checked session."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        authorization = _header(scope, b"authorization")
        if authorization is not None:
            kind, _, token = authorization.partition(" ")
            user = await _user_from_bearer(token.strip()) if kind.lower() == "bearer" else AnonymousUser()
            scope = {**scope, "user": user, "auth_method": "bearer"}
        elif not origin_allowed(_header(scope, b"origin")):
            scope = {**scope, "user": AnonymousUser(), "auth_method": "none"}
        else:
            scope = {**scope, "auth_method": "session"}
        return await self.inner(scope, receive, send)


def websocket_auth(inner: Any) -> Any:
    """Session and cookie middleware outside, the Bearer/Origin decision inside."""
    return AuthMiddlewareStack(JWTOrSessionAuthMiddleware(inner))
