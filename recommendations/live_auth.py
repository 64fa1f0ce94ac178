"""Whether the credentials that opened sockets still hold, asked by the hub's timer (live_hub.py).

A token or ticket socket closes when its token expires (``HomeConsumer.check_deadlines``). What
can end earlier is the account or the session behind it, and an open socket would otherwise keep
receiving a user's updates after they logged out or were deactivated. So every
``LIVE_SWEEP_SECONDS`` each process asks, for all its sockets at once:

- session sockets: the session is read again and Django's own rule decides
  (``django.contrib.auth.get_user``): the session still exists and has not expired, names the
  user, the authentication backend still accepts the user (an inactive one it refuses), and the
  session's auth hash still matches the user's password. Else ``session_ended``. Read only: the
  rule's side effects (flushing a session that fails, re-keying one verified by an old secret)
  are left to the next HTTP request, as they would be without a socket.
- token and ticket sockets: the account still exists and is active, as simplejwt's HTTP
  authentication requires (``user_not_found``, ``user_inactive``: the codes HTTP answers).

The consumer closes a socket whose credential no longer holds with 4401 (docs/websocket.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user, get_user_model
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from .live_protocol import SESSION_ENDED, USER_INACTIVE, USER_NOT_FOUND


@dataclass(frozen=True)
class Credential:
    user_id: int
    session_key: str | None  # a session socket's session; None: a token or ticket socket


Revocation = tuple[str, str]  # (error code, message)

_SESSION_ENDED = (
    SESSION_ENDED,
    "The session ended (logged out, password changed or account deactivated): log in again.",
)
_USER_INACTIVE = (USER_INACTIVE, "The account is no longer active.")
_USER_NOT_FOUND = (USER_NOT_FOUND, "The account no longer exists.")


class _SessionView(dict[str, Any]):
    """A session's data for ``get_user``, which must not change the stored session."""

    def flush(self) -> None:
        pass

    def cycle_key(self) -> None:
        pass


def revoked(credentials: Iterable[Credential]) -> dict[Credential, Revocation]:
    """The credentials among ``credentials`` that no longer hold, each with why (synchronous:
    the database and the session store)."""
    found: dict[Credential, Revocation] = {}
    tokens: set[int] = set()
    for credential in set(credentials):
        if credential.session_key is None:
            tokens.add(credential.user_id)
        elif not _session_holds(credential):
            found[credential] = _SESSION_ENDED
    if tokens:
        active = dict(get_user_model().objects.filter(pk__in=tokens).values_list("pk", "is_active"))
        for user_id in tokens:
            if user_id not in active:
                found[Credential(user_id, None)] = _USER_NOT_FOUND
            elif jwt_settings.CHECK_USER_IS_ACTIVE and not active[user_id]:
                found[Credential(user_id, None)] = _USER_INACTIVE
    return found


def _session_holds(credential: Credential) -> bool:
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=credential.session_key)
    user = get_user(SimpleNamespace(session=_SessionView(store.load())))  # type: ignore[arg-type]
    return bool(user.is_authenticated and user.pk == credential.user_id)
