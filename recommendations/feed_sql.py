"""Everything a user's feed needs from PostgreSQL, in one round trip, on the event loop.

The fast path's builder (``feed_build.py``) reads here what the view reads through the ORM
(``fragment_index.py`` and ``selectors.py``): the account's state, the active products with their
newest deals, the user's live offers and the published templates. Four statements go out in one
query string (psycopg binds the values client-side, quoting them; the simple query protocol runs
them as one transaction, each statement with its own snapshot as the ORM's queries have) and come
back as the same plain
rows the ORM readers make (``FeedProduct``, ``OfferIndexRow``, ``DealSnapshotRow``), so the
pure planning and rendering that follow are shared. The statements say in SQL what the ORM
querysets say (``live_offers``, ``offers_clicked``, ``products_for_feed``, ``templates_revision``):
same filters, same orderings (the database's collation decides both, so the offer index hashes
rows in the same order); a contract test runs every home-feed test against both builders.

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
from psycopg import AsyncClientCursor, AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool

from interactions.models import Interaction, OfferDismissal, ProductRanking
from products.models import DealSnapshot, DealsPollState, Product
from ui_templates.models import ComponentTemplate, TemplateVersion
from ui_templates.template_set import TemplateEntry

from .fragment_index import DealSnapshotRow, FeedProduct, OfferIndexRow, in_feed_order
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
    snapshots: dict[int, DealSnapshotRow]  # the products' newest deal snapshots, by id
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


_USER = "SELECT is_active FROM {user} WHERE {user_id} = %(user)s"
_PRODUCTS = """
    SELECT p.id, p.slug, p.name, p.rank_weight, r.ctr, s.id, s.fetched_at, s.deals::text, ps.last_success_at
    FROM {product} p
    LEFT JOIN {poll_state} ps ON ps.{poll_state_product} = p.id
    LEFT JOIN {ranking} r ON r.{ranking_product} = p.id
    LEFT JOIN LATERAL (
        SELECT d.id, d.fetched_at, d.deals FROM {snapshot} d
        WHERE d.{snapshot_product} = p.id ORDER BY d.fetched_at DESC, d.id DESC LIMIT 1
    ) s ON TRUE
    WHERE p.active
    ORDER BY p.rank_weight DESC, p.slug ASC"""
_OFFERS = """
    SELECT o.{offer_product}, o.external_id, o.version, o.title, o.body, o.image_url, o.price_amount,
        o.price_currency, o.price_period, o.cta_label, o.cta_url, o.data::text, o.priority, o.expires_at,
        o.updated_at,
        EXISTS (
            SELECT 1 FROM {interaction} i
            WHERE i.{interaction_user} = o.{offer_user} AND i.{interaction_product} = o.{offer_product}
                AND i.offer_id = o.external_id AND i.kind = %(click)s
        )
    FROM {offer} o
    JOIN {product} p ON p.id = o.{offer_product} AND p.active
    WHERE o.{offer_user} = %(user)s AND NOT o.withdrawn AND (o.expires_at IS NULL OR o.expires_at > %(now)s)
        AND NOT EXISTS (
            SELECT 1 FROM {dismissal} x
            WHERE x.{dismissal_user} = o.{offer_user} AND x.{dismissal_product} = o.{offer_product}
                AND x.offer_id = o.external_id
        )
    ORDER BY o.{offer_product} ASC, o.external_id ASC"""
_TEMPLATES = """
    SELECT t.key, t.slot, t.product_slug, t.{published}, v.number
    FROM {template} t JOIN {version} v ON v.id = t.{published}
    WHERE t.{published} IS NOT NULL
    ORDER BY t.key ASC"""
_TREES = "SELECT id, tree::text FROM {version} WHERE id = ANY(%(ids)s)"


def _statements() -> tuple[bytes, ...]:
    names = _names()
    # Encoded once: a Composed would be encoded again at every execution.
    return tuple(
        sql.SQL(text).format(**names).as_bytes(None) for text in (_USER, _PRODUCTS, _OFFERS, _TEMPLATES, _TREES)
    )


_STATEMENTS: tuple[bytes, ...] | None = None


def statements() -> tuple[bytes, ...]:
    global _STATEMENTS
    if _STATEMENTS is None:
        _STATEMENTS = _statements()
    return _STATEMENTS


_FEED: bytes | None = None


def _feed_statement() -> bytes:
    """The four reads of a feed as one query string: sent at once (the simple query protocol runs
    them as one transaction), their results read one after the other."""
    global _FEED
    if _FEED is None:
        _FEED = b";\n".join(statements()[:4])
    return _FEED


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
    gets a new pool: tests run one loop per test)."""

    def __init__(self, *, max_size: int, timeout: float, connect_kwargs: dict[str, Any] | None = None) -> None:
        self.max_size = max_size
        self.timeout = timeout  # for a free connection (then the view answers)
        self._connect_kwargs = connect_kwargs  # None: the default database's (``_connect_kwargs``)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None

    async def _get_pool(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        loop = asyncio.get_running_loop()
        if self._pool is None or self._loop is not loop:
            self._loop = loop
            self._pool = AsyncConnectionPool(
                # Client-side binding (psycopg quotes the values): it lets one query string carry
                # the four statements, one round trip without pipeline mode's bookkeeping.
                kwargs={
                    **(self._connect_kwargs or _connect_kwargs()),
                    "autocommit": True,
                    "cursor_factory": AsyncClientCursor,
                },
                min_size=1,
                max_size=self.max_size,
                configure=_configure,
                open=False,
                timeout=self.timeout,
                name="feed-build",
            )
            await self._pool.open()
        return self._pool

    async def feed_rows(self, *, user_id: int, now: datetime) -> FeedRows:
        """The rows of ``user_id``'s feed at ``now``: one round trip (pipeline mode)."""
        params = {"user": user_id, "now": now, "click": Interaction.Kind.CLICK.value}
        pool = await self._get_pool()
        async with pool.connection() as conn:
            cursor = await conn.execute(_feed_statement(), params)
            user_rows = await cursor.fetchall()
            cursor.nextset()
            product_rows = await cursor.fetchall()
            cursor.nextset()
            offer_rows = await cursor.fetchall()
            cursor.nextset()
            template_rows = await cursor.fetchall()
        snapshots: dict[int, DealSnapshotRow] = {}
        feed_products = []
        for pk, slug, name, rank_weight, ctr, snapshot_id, fetched_at, deals, last_success_at in product_rows:
            feed_products.append(
                FeedProduct(pk, slug, name, rank_weight, ctr, snapshot_id, fetched_at, last_success_at)
            )
            if snapshot_id is not None:
                snapshots[snapshot_id] = DealSnapshotRow(json.loads(deals), fetched_at)
        return FeedRows(
            user_active=bool(user_rows[0][0]) if user_rows else None,
            products=in_feed_order(feed_products),
            snapshots=snapshots,
            offers=[_offer_row(row) for row in offer_rows],
            templates=[TemplateRow(*row) for row in template_rows],
        )

    async def template_entries(self, templates: list[TemplateRow]) -> list[TemplateEntry]:
        """The published templates with their trees (as ``ui_templates.selectors.published_templates``)."""
        pool = await self._get_pool()
        async with pool.connection() as conn:
            cursor = await conn.execute(statements()[4], {"ids": [t.version_id for t in templates]})
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

    async def aclose(self) -> None:
        pool, self._pool, self._loop = self._pool, None, None
        if pool is not None:
            await pool.close()


def _offer_row(row: tuple[Any, ...]) -> OfferRow:
    (product_id, external_id, version, title, body, image_url, amount, currency, period, cta_label, cta_url, data,
     priority, expires_at, updated_at, clicked) = row  # fmt: skip
    return OfferRow(
        product_id, external_id, version, title, body, image_url, amount, currency, period, cta_label, cta_url,
        json.loads(data), priority, expires_at, updated_at, bool(clicked),
    )  # fmt: skip
