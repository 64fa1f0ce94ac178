"""Everything a user's feed needs from PostgreSQL, in one round trip, on the event loop.

The fast path's builder (``feed_build.py``) reads here what the view reads through the ORM
(``fragment_index.py`` and ``selectors.py``): the account's state, the active products with the
identity of their newest deals, the user's live offers and the published templates. One statement
reads all four (each kind of row as a JSON array in a column of its one row; psycopg prepares it
once it has run a few times on a connection, so PostgreSQL neither parses nor plans it again), and
they come back as the same plain rows the ORM readers make (``FeedProduct``, ``OfferIndexRow``),
so the pure planning and rendering that follow are shared. The deals themselves and the template
trees are read only when a section is rendered with them (feed_build.py keeps them per process:
snapshots and template versions are never changed once recorded). The statement says in SQL what
the ORM querysets say (``live_offers``, ``offers_clicked``, ``products_for_feed``,
``templates_revision``): same filters, same orderings (the database's collation decides both, so
the offer index hashes rows in the same order); every home-feed contract test runs against both
builders, and tests/recommendations/test_feed_build.py compares the rows themselves.

Table and column names come from the models, so moving a model does not break a statement.
PostgreSQL only (``possible``): with SQLite the view builds every document.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Model
from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool

from homeservice.fast_path import LoopLifetime
from products.models import DealSnapshot, DealsPollState, Product
from recommendations.interactions.models import Interaction, OfferDismissal, ProductRanking
from ui_templates.models import ComponentTemplate, TemplateVersion
from ui_templates.template_set import TemplateEntry

from .fragment_index import FeedProduct, OfferIndexRow, in_feed_order
from .models import Offer


class OfferRow(NamedTuple):
    """A live offer of the user, with the fields ``selectors.offer_data`` reads."""

    product_id: int
    external_id: str
    version: int
    title: str
    body: str
    image_url: str
    price_amount: Decimal | None
    price_currency: str
    price_period: str
    cta_label: str
    cta_url: str
    data: dict[str, Any]
    priority: int
    expires_at: datetime | None
    updated_at: datetime
    clicked: bool

    def index_row(self) -> OfferIndexRow:
        return OfferIndexRow(
            self.product_id, self.external_id, self.version, self.updated_at, self.expires_at, self.clicked
        )


class TemplateRow(NamedTuple):
    key: str
    slot: str
    product_slug: str
    version_id: int
    number: int


@dataclass(frozen=True)
class FeedRows:
    user_active: bool | None  # None: no such account
    products: list[FeedProduct]  # active products, home-screen order
    offers: list[OfferRow]  # the user's live offers for active products, by product id and external id
    templates: list[TemplateRow]  # the published templates, by key


def _names() -> dict[str, sql.Composable]:
    """The tables and columns the statements name, from the models, quoted."""
    user_model = get_user_model()

    def table(model: type[Model]) -> sql.Identifier:
        return sql.Identifier(model._meta.db_table)

    def column(model: type[Model], field: str) -> sql.Identifier:
        return sql.Identifier(str(model._meta.get_field(field).column))  # type: ignore[union-attr]

    return {
        "user": table(user_model),
        "user_id": column(user_model, "id"),
        "product": table(Product),
        "poll_state": table(DealsPollState),
        "poll_state_product": column(DealsPollState, "product"),
        "ranking": table(ProductRanking),
        "ranking_product": column(ProductRanking, "product"),
        "snapshot": table(DealSnapshot),
        "snapshot_product": column(DealSnapshot, "product"),
        "offer": table(Offer),
        "offer_product": column(Offer, "product"),
        "offer_user": column(Offer, "user"),
        "interaction": table(Interaction),
        "interaction_user": column(Interaction, "user"),
        "interaction_product": column(Interaction, "product"),
        "dismissal": table(OfferDismissal),
        "dismissal_user": column(OfferDismissal, "user"),
        "dismissal_product": column(OfferDismissal, "product"),
        "template": table(ComponentTemplate),
        "published": column(ComponentTemplate, "published_version"),
        "version": table(TemplateVersion),
    }


# One statement, one row: the account's state, then each kind of row as a JSON array of arrays,
# in the ORM readers' orders. Values keep their exact form through JSON: times as ISO 8601 text
# (the session is in UTC), amounts as text, the JSON fields as they are stored.
_FEED = """
SELECT
  (SELECT is_active FROM {user} WHERE {user_id} = %(user)s),
  (SELECT coalesce(json_agg(json_build_array(
            p.id, p.slug, p.name, p.rank_weight, r.ctr, s.id, s.fetched_at, ps.last_success_at
          ) ORDER BY p.rank_weight DESC, p.slug ASC), '[]')::text
     FROM {product} p
     LEFT JOIN {poll_state} ps ON ps.{poll_state_product} = p.id
     LEFT JOIN {ranking} r ON r.{ranking_product} = p.id
     LEFT JOIN LATERAL (
       SELECT d.id, d.fetched_at FROM {snapshot} d
       WHERE d.{snapshot_product} = p.id ORDER BY d.fetched_at DESC, d.id DESC LIMIT 1
     ) s ON TRUE
     WHERE p.active),
  (SELECT coalesce(json_agg(json_build_array(
            o.{offer_product}, o.external_id, o.version, o.title, o.body, o.image_url, o.price_amount::text,
            o.price_currency, o.price_period, o.cta_label, o.cta_url, o.data, o.priority, o.expires_at,
            o.updated_at,
            EXISTS (
              SELECT 1 FROM {interaction} i
              WHERE i.{interaction_user} = o.{offer_user} AND i.{interaction_product} = o.{offer_product}
                AND i.offer_id = o.external_id AND i.kind = %(click)s
            )
          ) ORDER BY o.{offer_product} ASC, o.external_id ASC), '[]')::text
     FROM {offer} o
     JOIN {product} p ON p.id = o.{offer_product} AND p.active
     WHERE o.{offer_user} = %(user)s AND NOT o.withdrawn AND (o.expires_at IS NULL OR o.expires_at > %(now)s)
       AND NOT EXISTS (
         SELECT 1 FROM {dismissal} x
         WHERE x.{dismissal_user} = o.{offer_user} AND x.{dismissal_product} = o.{offer_product}
           AND x.offer_id = o.external_id
       )),
  (SELECT coalesce(json_agg(json_build_array(t.key, t.slot, t.product_slug, t.{published}, v.number)
          ORDER BY t.key ASC), '[]')::text
     FROM {template} t JOIN {version} v ON v.id = t.{published}
     WHERE t.{published} IS NOT NULL)
"""
_TREES = "SELECT id, tree::text FROM {version} WHERE id = ANY(%(ids)s)"
_DEALS = "SELECT id, deals::text FROM {snapshot} WHERE id = ANY(%(ids)s)"


def _statements() -> tuple[bytes, bytes, bytes]:
    names = _names()
    # Encoded once: a Composed would be encoded again at every execution.
    feed, trees, deals = (sql.SQL(text).format(**names).as_bytes(None) for text in (_FEED, _TREES, _DEALS))
    return feed, trees, deals


_STATEMENTS: tuple[bytes, bytes, bytes] | None = None


def statements() -> tuple[bytes, bytes, bytes]:
    """The feed's statement, the template trees' and the deal snapshots'."""
    global _STATEMENTS
    if _STATEMENTS is None:
        _STATEMENTS = _statements()
    return _STATEMENTS


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def possible() -> bool:
    """Whether the database is one these statements are written for."""
    return connections["default"].vendor == "postgresql"


def _connect_kwargs() -> dict[str, Any]:
    """libpq parameters of the default database (as Django connects; tests: the test database)."""
    settings_dict = connections["default"].settings_dict
    options = {
        key: value
        for key, value in (settings_dict.get("OPTIONS") or {}).items()
        if key not in ("pool", "isolation_level", "assume_role", "server_side_binding", "cursor_factory", "context")
    }
    params: dict[str, Any] = {"dbname": settings_dict["NAME"], **options}
    for key, name in (("USER", "user"), ("PASSWORD", "password"), ("HOST", "host"), ("PORT", "port")):
        if settings_dict.get(key):
            params[name] = settings_dict[key]
    return params


async def _configure(conn: AsyncConnection[Any]) -> None:
    # Datetimes come back in UTC, as Django's own connections return them.
    await conn.execute("SET TIME ZONE 'UTC'")


class FeedDatabase:
    """A small pool of asyncio PostgreSQL connections for the running event loop (a new loop
    gets a new pool, closed when its loop shuts down: tests run one loop per test)."""

    def __init__(self, *, max_size: int, timeout: float, connect_kwargs: dict[str, Any] | None = None) -> None:
        self.max_size = max_size
        self.timeout = timeout  # for a free connection (then the view answers)
        self._connect_kwargs = connect_kwargs  # None: the default database's (``_connect_kwargs``)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None
        self._lifetime = LoopLifetime()

    async def _get_pool(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        loop = asyncio.get_running_loop()
        if self._pool is None or self._loop is not loop:
            self._loop = loop
            pool = self._pool = AsyncConnectionPool(
                # psycopg prepares a statement run five times on a connection: the feed's is then
                # neither parsed nor planned again.
                kwargs={**(self._connect_kwargs or _connect_kwargs()), "autocommit": True},
                min_size=1,
                max_size=self.max_size,
                configure=_configure,
                open=False,
                timeout=self.timeout,
                name="feed-build",
            )
            await pool.open()
            self._lifetime.bind(lambda: _close_pool(pool))
        return self._pool

    async def feed_rows(self, *, user_id: int, now: datetime) -> FeedRows:
        """The rows of ``user_id``'s feed at ``now``: one round trip (pipeline mode)."""
        params = {"user": user_id, "now": now, "click": Interaction.Kind.CLICK.value}
        pool = await self._get_pool()
        async with pool.connection() as conn:
            cursor = await conn.execute(statements()[0], params)
            row = await cursor.fetchone()
        assert row is not None  # one row, whatever the data
        active, products_json, offers_json, templates_json = row
        products = [
            FeedProduct(pk, slug, name, rank_weight, ctr, snapshot_id, _time(fetched_at), _time(last_success))
            for pk, slug, name, rank_weight, ctr, snapshot_id, fetched_at, last_success in json.loads(products_json)
        ]
        return FeedRows(
            user_active=None if active is None else bool(active),
            products=in_feed_order(products),
            offers=[_offer_row(item) for item in json.loads(offers_json)],
            templates=[TemplateRow(*item) for item in json.loads(templates_json)],
        )

    async def template_entries(self, templates: list[TemplateRow]) -> list[TemplateEntry]:
        """The published templates with their trees (as ``ui_templates.selectors.published_templates``)."""
        pool = await self._get_pool()
        async with pool.connection() as conn:
            cursor = await conn.execute(statements()[1], {"ids": [t.version_id for t in templates]})
            trees: Mapping[int, str] = dict(await cursor.fetchall())
        return [
            TemplateEntry(
                key=t.key,
                version_tag=f"v{t.number}",
                tree=json.loads(trees[t.version_id]),
                slot=t.slot,
                product_slug=t.product_slug,
                revision=f"pk:{t.version_id}",
            )
            for t in templates
            if t.version_id in trees
        ]

    async def snapshot_deals(self, snapshot_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        """The deals of these snapshots, by id (a snapshot is never changed once recorded)."""
        pool = await self._get_pool()
        async with pool.connection() as conn:
            cursor = await conn.execute(statements()[2], {"ids": snapshot_ids})
            return {pk: json.loads(deals) for pk, deals in await cursor.fetchall()}

    async def aclose(self) -> None:
        """Close this loop's pool now (it would close with the loop anyway)."""
        self._pool, self._loop = None, None
        await self._lifetime.aclose()


async def _close_pool(pool: AsyncConnectionPool[AsyncConnection[Any]]) -> None:
    """Close ``pool``, also when its loop is shutting down: the loop cancels every task first, the
    pool's workers among them, and ``close`` then stops at waiting for them before closing its idle
    connections; those are closed here instead (psycopg_pool keeps them in ``_pool``)."""
    idle = list(getattr(pool, "_pool", ()))
    try:
        await pool.close(timeout=1)
    except asyncio.CancelledError:
        for conn in idle:
            await conn.close()


def _offer_row(item: list[Any]) -> OfferRow:
    (product_id, external_id, version, title, body, image_url, amount, currency, period, cta_label, cta_url, data,
     priority, expires_at, updated_at, clicked) = item  # fmt: skip
    updated = _time(updated_at)
    assert updated is not None  # the column is not null
    return OfferRow(
        product_id, external_id, version, title, body, image_url, None if amount is None else Decimal(amount),
        currency, period, cta_label, cta_url, data, priority, _time(expires_at), updated, bool(clicked),
    )  # fmt: skip
