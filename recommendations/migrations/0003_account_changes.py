"""Triggers that record account changes made without a signal (recommendations/fragments/account_changes.py).

A change of a user's ``is_active`` or ``password``, and a deletion, upsert the user into
``recommendations_accountchange`` with the writing transaction's position: on PostgreSQL its
transaction id (``xid8``), on SQLite a counter taken under SQLite's single writer lock. Each server
process polls the table and replaces the changed users' feed-document generations, so both fast
paths stop answering for a user deactivated by ``update()`` or raw SQL within a second.
Reversible: the backward step drops the triggers, the function and the table.
"""

from typing import Any

from django.conf import settings
from django.db import migrations

TABLE = "recommendations_accountchange"
FUNCTION = "recommendations_account_changed"
UPDATED = "recommendations_account_updated"
DELETED = "recommendations_account_deleted"


def _user_table(apps: Any) -> tuple[str, str]:
    meta = apps.get_model(settings.AUTH_USER_MODEL)._meta
    return meta.db_table, meta.pk.column


def _postgresql(users: str, pk: str) -> list[str]:
    return [
        f"""CREATE TABLE {TABLE} (
            user_id bigint PRIMARY KEY,
            xid xid8 NOT NULL,
            changed_at double precision NOT NULL
        )""",
        f"CREATE INDEX {TABLE}_xid ON {TABLE} (xid)",
        f"""CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO {TABLE} (user_id, xid, changed_at)
            VALUES (
                CASE WHEN TG_OP = 'DELETE' THEN OLD.{pk} ELSE NEW.{pk} END,
                pg_current_xact_id(),
                extract(epoch FROM clock_timestamp())
            )
            ON CONFLICT (user_id) DO UPDATE SET xid = EXCLUDED.xid, changed_at = EXCLUDED.changed_at;
            RETURN NULL;
        END
        $$""",
        f"""CREATE TRIGGER {UPDATED} AFTER UPDATE OF is_active, password ON {users} FOR EACH ROW
            WHEN (OLD.is_active IS DISTINCT FROM NEW.is_active OR OLD.password IS DISTINCT FROM NEW.password)
            EXECUTE FUNCTION {FUNCTION}()""",
        f"CREATE TRIGGER {DELETED} AFTER DELETE ON {users} FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()",
    ]


def _sqlite_upsert(row: str, pk: str) -> str:
    return f"""INSERT OR REPLACE INTO {TABLE} (user_id, revision, changed_at) VALUES (
        {row}.{pk},
        (SELECT coalesce(max(revision), 0) + 1 FROM {TABLE}),
        (julianday('now') - 2440587.5) * 86400.0
    );"""


def _sqlite(users: str, pk: str) -> list[str]:
    return [
        f"""CREATE TABLE {TABLE} (
            user_id integer PRIMARY KEY,
            revision integer NOT NULL,
            changed_at real NOT NULL
        )""",
        f"CREATE INDEX {TABLE}_revision ON {TABLE} (revision)",
        f"""CREATE TRIGGER {UPDATED} AFTER UPDATE OF is_active, password ON {users} FOR EACH ROW
            WHEN OLD.is_active IS NOT NEW.is_active OR OLD.password IS NOT NEW.password
            BEGIN {_sqlite_upsert("NEW", pk)} END""",
        f"CREATE TRIGGER {DELETED} AFTER DELETE ON {users} FOR EACH ROW BEGIN {_sqlite_upsert('OLD', pk)} END",
    ]


def create(apps: Any, schema_editor: Any) -> None:
    users, pk = _user_table(apps)
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        statements = _postgresql(users, pk)
    elif vendor == "sqlite":
        statements = _sqlite(users, pk)
    else:
        raise NotImplementedError(f"account change triggers are written for PostgreSQL and SQLite, not {vendor}")
    for statement in statements:
        schema_editor.execute(statement)


def drop(apps: Any, schema_editor: Any) -> None:
    users, _ = _user_table(apps)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {UPDATED} ON {users}")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {DELETED} ON {users}")
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
    else:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {UPDATED}")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {DELETED}")
    schema_editor.execute(f"DROP TABLE IF EXISTS {TABLE}")


class Migration(migrations.Migration):
    dependencies = [
        ("recommendations", "0002_product_events"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
