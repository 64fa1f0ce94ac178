"""One-time tickets for opening ``/ws/home/`` from a browser on another origin.

A browser cannot set an ``Authorization`` header on a WebSocket handshake, and a session cookie
is only honoured from our own origins. So a client holding an access token asks
``POST /api/v1/live/ticket/`` for a ticket and opens ``/ws/home/?ticket=<ticket>``.

- A ticket is 32 random bytes (URL-safe); only its SHA-256 is stored, in the Django cache (Redis
  in the full stack, so a ticket issued by one instance opens a socket on any other), with
  ``cache.add`` and a timeout of ``LIVE_TICKET_TTL_SECONDS`` (at most 60).
- Redeeming deletes it: of several handshakes presenting the same ticket, only the one whose
  delete removed the key gets the user (a single ``DEL`` is atomic in Redis).
- The grant carries the expiry of the access token that asked for the ticket, so the connection
  is closed with 4401 when that token would have expired (docs/websocket.md).
- With the cache (Redis) unreachable no ticket can be kept: issuing one raises ApplicationError
  ``unavailable`` (503); redeeming one raises the cache's error, which the handshake answers with
  close 1013 (recommendations/ws_auth.py, consumers.py).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.cache import cache
from django_redis.exceptions import ConnectionInterrupted

from homeservice.errors import ApplicationError

from .live_protocol import UNAVAILABLE

KEY_PREFIX = "live-ticket:"
MAX_TTL_SECONDS = 60


@dataclass(frozen=True)
class IssuedTicket:
    ticket: str
    expires_in: int


@dataclass(frozen=True)
class TicketGrant:
    user_id: int
    credential_expires_at: float | None  # epoch seconds; None: no expiry to enforce


def _key(ticket: str) -> str:
    return KEY_PREFIX + hashlib.sha256(ticket.encode()).hexdigest()


def ticket_ttl_seconds() -> int:
    return max(1, min(int(settings.LIVE_TICKET_TTL_SECONDS), MAX_TTL_SECONDS))


# What the cache raises when its Redis is unreachable (django-redis wraps redis-py's errors).
CACHE_ERRORS = (ConnectionInterrupted, redis.RedisError, OSError)


def live_ticket_issue(*, user_id: int, credential_expires_at: float | None) -> IssuedTicket:
    """A new ticket for ``user_id``; ApplicationError ``unavailable`` (503) when it cannot be kept."""
    ttl = ticket_ttl_seconds()
    while True:
        ticket = secrets.token_urlsafe(32)
        value = {"user_id": user_id, "expires_at": time.time() + ttl, "credential_expires_at": credential_expires_at}
        try:
            added = cache.add(_key(ticket), value, timeout=ttl)
        except CACHE_ERRORS as exc:
            raise ApplicationError(
                UNAVAILABLE,
                "Live tickets are unavailable for a moment (the shared cache cannot be reached): retry shortly.",
                status_code=503,
            ) from exc
        if added:
            return IssuedTicket(ticket=ticket, expires_in=ttl)


def live_ticket_redeem(*, ticket: str) -> TicketGrant | None:
    """The ticket's grant, once; None for an unknown, expired or already used ticket."""
    if not ticket or len(ticket) > 200:
        return None
    key = _key(ticket)
    value = cache.get(key)
    if not isinstance(value, dict) or not cache.delete(key):
        return None
    if time.time() >= value["expires_at"]:
        return None
    return TicketGrant(user_id=int(value["user_id"]), credential_expires_at=value["credential_expires_at"])
