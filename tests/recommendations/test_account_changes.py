"""Account changes made without a signal (recommendations/fragments/account_changes.py and the
triggers of migration 0003): which changes are recorded, and that each is read exactly once.

That the fast paths then refuse such a user within a second: test_home_fast_path.py and
tests/plans/test_filter_fast_path.py ("bulk update").
"""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from recommendations.fragments.account_changes import TABLE, Cursor, read_changes
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def start() -> Cursor:
    """A cursor past everything recorded so far."""
    _, cursor = read_changes(Cursor(), recent_seconds=0)
    return cursor


def test_deactivations_password_changes_and_deletions_are_read_once() -> None:
    deactivated, new_password, renamed, deleted = UserFactory.create_batch(4)
    cursor = start()

    User.objects.filter(pk=deactivated.pk).update(is_active=False)
    User.objects.filter(pk=new_password.pk).update(password="!")
    User.objects.filter(pk=renamed.pk).update(first_name="Renamed", last_login=timezone.now())  # not the account
    User.objects.filter(pk=deactivated.pk).update(is_active=False)  # no change: not recorded again
    with connection.cursor() as db:
        db.execute(f"DELETE FROM {User._meta.db_table} WHERE id = %s", [deleted.pk])  # noqa: S608 - a model's table
    users, cursor = read_changes(cursor, recent_seconds=0)

    assert sorted(users) == sorted([deactivated.pk, new_password.pk, deleted.pk])
    assert read_changes(cursor, recent_seconds=0)[0] == []


def test_a_user_changed_again_is_read_again() -> None:
    user = UserFactory.create()
    cursor = start()
    User.objects.filter(pk=user.pk).update(is_active=False)
    users, cursor = read_changes(cursor, recent_seconds=0)
    assert users == [user.pk]

    User.objects.filter(pk=user.pk).update(is_active=True)

    assert read_changes(cursor, recent_seconds=0)[0] == [user.pk]


def test_the_first_read_takes_the_recent_changes() -> None:
    user = UserFactory.create()
    User.objects.filter(pk=user.pk).update(is_active=False)

    users, _ = read_changes(Cursor(), recent_seconds=60)

    assert user.pk in users


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="only PostgreSQL runs writers concurrently; SQLite's single writer lock orders commits by itself",
)
def test_a_change_committed_after_a_read_by_a_transaction_open_during_it_is_read_next() -> None:
    user, later = UserFactory.create_batch(2)
    cursor = start()
    written, commit = threading.Event(), threading.Event()

    def writer() -> None:
        try:
            with transaction.atomic():
                User.objects.filter(pk=user.pk).update(is_active=False)
                written.set()
                assert commit.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    assert written.wait(30)
    User.objects.filter(pk=later.pk).update(is_active=False)  # a younger transaction commits first
    first, cursor = read_changes(cursor, recent_seconds=0)
    commit.set()
    thread.join(30)
    second, cursor = read_changes(cursor, recent_seconds=0)

    assert (first, second) == ([later.pk], [user.pk])
    assert read_changes(cursor, recent_seconds=0)[0] == []


def test_the_migration_is_reversible() -> None:
    user = UserFactory.create()
    try:
        call_command("migrate", "recommendations", "0002", verbosity=0)
        assert TABLE not in connection.introspection.table_names()
        User.objects.filter(pk=user.pk).update(is_active=False)  # no trigger left behind
    finally:
        call_command("migrate", "recommendations", verbosity=0)
    assert TABLE in connection.introspection.table_names()
    cursor = start()
    User.objects.filter(pk=user.pk).update(is_active=True)
    assert read_changes(cursor, recent_seconds=0)[0] == [user.pk]
