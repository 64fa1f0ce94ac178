"""Accounts changed without a signal stop the fast paths within a second.

Neither fast path looks the account up (recommendations/api/home_fast.py,
recommendations/plans/filter_fast.py): they rely on the user's feed-document generation, which a
user saved or deleted through the ORM replaces (signals.py). A queryset ``update()``, raw SQL or
another program sends no signal, so database triggers (migration 0003) record every change of
``is_active`` or ``password`` and every deletion of a user in ``recommendations_accountchange``,
and each server process reads that table and replaces the changed users' generations, exactly
as the signal does (``signals.users_changed``). The view then answers, and refuses an inactive
or deleted account.

Each server process runs one watcher per event loop, started by the fast paths' first request
(``ensure_watching``): every ``ACCOUNT_CHANGES_POLL_SECONDS`` (0.5 s) one indexed query, in a
worker thread, never two at once and never per request. Its first read takes the changes of the
last ``FEED_DOC_TTL_SECONDS`` (a document stored before the process started may still be served).

Which rows are new (``read_changes``):

- PostgreSQL: each row holds the id of the transaction that wrote it. A read takes its own
  snapshot's ``xmax`` and in-progress ids; the next read takes the rows written by a transaction
  at or above that ``xmax`` or among those in progress. A transaction that commits after a read,
  however long it ran, is read by the next one, and no row is read twice.
- SQLite: each row holds a counter the trigger takes under SQLite's single writer lock, so rows
  commit in counter order and the next read takes the rows above the highest read.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection

from . import signals

logger = logging.getLogger(__name__)

TABLE = "recommendations_accountchange"

# One statement: this snapshot's xmax and in-progress transactions, and the rows asked for.
_PG_READ = (
    "SELECT pg_snapshot_xmax(s)::text, ARRAY(SELECT pg_snapshot_xip(s)::text), ARRAY({rows})"
    " FROM (SELECT pg_current_snapshot() AS s) AS snapshot"
)
_PG_RECENT = f"SELECT user_id FROM {TABLE} WHERE changed_at >= %s"  # noqa: S608 - a constant table name
_PG_SINCE = f"SELECT user_id FROM {TABLE} WHERE xid >= %s::xid8 OR xid = ANY(%s::xid8[])"  # noqa: S608 - idem
_SQLITE_TOP = f"SELECT coalesce(max(revision), 0) FROM {TABLE}"  # noqa: S608 - idem
_SQLITE_RECENT = f"SELECT user_id FROM {TABLE} WHERE changed_at >= %s"  # noqa: S608 - idem
_SQLITE_SINCE = f"SELECT user_id, revision FROM {TABLE} WHERE revision > %s"  # noqa: S608 - idem


@dataclass(frozen=True)
class Cursor:
    """Where the last read ended (None: nothing read yet)."""

    position: int | None = None  # PostgreSQL: that snapshot's xmax; SQLite: the highest revision read
    in_progress: tuple[int, ...] = ()  # PostgreSQL: the transactions in progress at that snapshot


def read_changes(cursor: Cursor, *, recent_seconds: float) -> tuple[list[int], Cursor]:
    """The users whose accounts changed since ``cursor`` (the first time: in the last
    ``recent_seconds``), and the cursor for the next read. Synchronous: Django's connection."""
    since = time.time() - recent_seconds
    with connection.cursor() as db:
        if connection.vendor == "postgresql":
            params: list[Any]
            if cursor.position is None:
                rows, params = _PG_RECENT, [since]
            else:
                rows, params = _PG_SINCE, [str(cursor.position), [str(xid) for xid in cursor.in_progress]]
            db.execute(_PG_READ.format(rows=rows), params)
            xmax, in_progress, users = db.fetchone()
            return list(users), Cursor(int(xmax), tuple(int(xid) for xid in in_progress))
        if cursor.position is None:
            db.execute(_SQLITE_TOP)
            (top,) = db.fetchone()
            db.execute(_SQLITE_RECENT, [since])
            return [user for (user,) in db.fetchall()], Cursor(int(top))
        db.execute(_SQLITE_SINCE, [cursor.position])
        found = db.fetchall()
        top = max((revision for _, revision in found), default=cursor.position)
        return [user for user, _ in found], Cursor(int(top))


class AccountWatch:
    """Reads the account changes every ``ACCOUNT_CHANGES_POLL_SECONDS`` on one event loop."""

    def __init__(self) -> None:
        self.cursor = Cursor()
        self.task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.poll)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("account changes could not be read; trying again", exc_info=True)
            await asyncio.sleep(float(settings.ACCOUNT_CHANGES_POLL_SECONDS))

    def poll(self) -> list[int]:
        """One read, and the generation bump of the users it found (in a worker thread)."""
        try:
            users, self.cursor = read_changes(self.cursor, recent_seconds=float(settings.FEED_DOC_TTL_SECONDS))
        finally:
            connection.close()  # back to the pool: this thread may not run again soon
        if users:
            signals.users_changed(user_ids=users)
        return users


_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AccountWatch] = weakref.WeakKeyDictionary()


def ensure_watching() -> None:
    """Start this event loop's watcher if it is not running (called by the fast paths; cheap)."""
    loop = asyncio.get_running_loop()
    watch = _watches.get(loop)
    if watch is None:
        if float(settings.ACCOUNT_CHANGES_POLL_SECONDS) <= 0:
            return
        watch = _watches[loop] = AccountWatch()
    watch.ensure_running()
