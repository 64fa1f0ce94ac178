"""The home feed built on the event loop, for requests the fast path finds no document for.

``feed_answer.feed_answer`` (the view's, through the ORM and django-redis) is the reference; this
builds the same document from the same plan with asyncio I/O, so a miss costs one PostgreSQL
round trip and a few Redis ones instead of a trip through Django, DRF and the ORM:

1. the generations the document will be kept under (the fast path has read them already; a
   missing one is created first, as ``documents.generations`` does before the view builds);
2. ``feed_sql.FeedDatabase.feed_rows``: the account, the products with the identity of their
   newest deals, the user's live offers and the published templates, in one round trip (the
   deals and the template trees are read when a section needs them, once per process);
3. ``feed_plan.plan_feed`` (pure, shared with the view): the fragment keys and the valid-until;
4. ``fragments.async_store``: L1, one ``MGET``, render what is missing (``feed.build_section``)
   under single flight and the render lease, write it back;
5. ``feed.assemble_feed``, then the document and the record of sections shown in one pipeline
   (``documents.stored_value``, ``interactions.shown.shown_fields``: the view's own encodings).

It answers None, and the view answers instead, when the account is missing or inactive (the view
refuses it), the database is not PostgreSQL, or a store it needs fails.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import psycopg
import redis.asyncio as aioredis
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import timezone
from psycopg_pool import PoolTimeout
from redis.asyncio.client import Pipeline

from homeservice.fast_path import RedisClients
from recommendations.interactions.shown import shown_fields, shown_key
from ui_templates.template_set import TemplateSet

from . import feed_sql
from .feed import OfferData, ProductInfo, assemble_feed, build_section
from .feed_plan import plan_feed, render_inputs
from .fragment_index import DealSnapshotRow, FeedProduct, deals_of, offer_index_of, templates_revision_of
from .fragments import documents
from .fragments.async_store import REDIS_ERRORS, AsyncFragmentStore, Writes, l2_url, l2_usable
from .fragments.store import Section, store
from .selectors import offer_data

logger = logging.getLogger(__name__)

_TEMPLATE_SETS = 8  # template sets kept per process, by revision
_SNAPSHOTS = 256  # deal snapshots kept per process, by id


_why_not: str | None = None  # build_possible(), derived from settings once (again when they change)


@receiver(setting_changed, dispatch_uid="feed_build.setting_changed")
def _forget(**kwargs: Any) -> None:
    global _why_not
    _why_not = None


def build_possible() -> str:
    """Why the fast path cannot build missing documents ('' when it can)."""
    global _why_not
    if _why_not is None:
        _why_not = _why_not_possible()
    return _why_not


def _why_not_possible() -> str:
    if not settings.FEED_FAST_BUILD:
        return "FEED_FAST_BUILD is off"
    if not feed_sql.possible():
        return "the database is not PostgreSQL"
    if not l2_usable():
        return "the fragment cache is not django-redis"
    return ""


@dataclass(frozen=True)
class BuiltFeed:
    feed: dict[str, Any]
    version: str
    body: bytes  # the document as sent and kept (orjson)


class FeedBuilder:
    """Builds feed documents on the event loop. One per process (``shared_builder``) serves the
    fast path and the WebSocket consumers; its pools and clients belong to the loop that uses
    them (homeservice/fast_path.py ``LoopLifetime``)."""

    def __init__(self, redis_clients: RedisClients | None = None, *, db: feed_sql.FeedDatabase | None = None) -> None:
        self.redis = redis_clients or RedisClients()
        self.db = db or feed_sql.FeedDatabase(
            max_size=settings.FEED_FAST_BUILD_DB_POOL_SIZE, timeout=settings.FEED_FAST_BUILD_DB_TIMEOUT_SECONDS
        )
        fragment_store = store()
        self.fragments = AsyncFragmentStore(
            l1=fragment_store.l1, ensure_subscriber=fragment_store.invalidator.ensure_subscriber
        )
        self._template_sets: OrderedDict[str, TemplateSet] = OrderedDict()
        self._deals: OrderedDict[int, list[dict[str, Any]]] = OrderedDict()  # by snapshot id

    async def build_or_none(
        self,
        *,
        user_id: int,
        client_version: int | None,
        user_generation: bytes | None = None,
        shared_generation: bytes | None = None,
        keep: bool = True,
    ) -> BuiltFeed | None:
        """``build``, or None when this process cannot build (settings, a bump of everything still
        owed) or PostgreSQL or Redis failed (logged): the caller then reads through the view's code."""
        if build_possible() or documents.bump_pending():
            return None
        try:
            return await self.build(
                user_id=user_id,
                client_version=client_version,
                user_generation=user_generation,
                shared_generation=shared_generation,
                keep=keep,
            )
        except (aioredis.RedisError, OSError, psycopg.Error, PoolTimeout):
            logger.warning("building the feed of user %s failed; read through the view's code", user_id, exc_info=True)
            return None

    async def build(
        self,
        *,
        user_id: int,
        client_version: int | None,
        user_generation: bytes | None = None,
        shared_generation: bytes | None = None,
        keep: bool = True,
    ) -> BuiltFeed | None:
        """``user_id``'s feed for ``client_version``, built and kept for the fast path as the
        view would (the generations given are those read before; None: read them now); None when
        the account is missing or inactive (the view refuses it). ``keep=False`` (live updates)
        neither stores the document nor records the sections shown: the fragments it rendered
        are written back all the same."""
        documents_client = self.redis.get(settings.FEED_DOC_REDIS_URL)
        if keep and (user_generation is None or shared_generation is None):
            created = await self._generations(documents_client, user_id)
            if created is None:
                return None
            user_generation, shared_generation = created
        now = timezone.now()
        rows = await self.db.feed_rows(user_id=user_id, now=now)
        if not rows.user_active:
            return None
        revision = templates_revision_of((t.key, t.version_id) for t in rows.templates)
        plan = plan_feed(
            user_id=user_id,
            products=rows.products,
            offers=offer_index_of(o.index_row() for o in rows.offers),
            templates=revision,
            client_version=client_version,
            now=now,
            stale_after=settings.DEALS_STALE_AFTER,
        )

        async def render(missing: list[str]) -> dict[str, Section | None]:
            wanted = [s for s in plan.sections if s.key in set(missing)]
            slugs = {p.pk: p.slug for p in rows.products}
            offers: dict[str, list[OfferData]] = {}
            for offer in rows.offers:
                offers.setdefault(slugs[offer.product_id], []).append(offer_data(offer))
            generic = [s.product for s in wanted if not s.personal]
            inputs = render_inputs(
                sections=wanted,
                offers=offers,
                deals=deals_of(generic, await self._snapshots(generic)) if generic else {},
                templates=await self._template_set(revision, rows.templates),
            )
            return {
                s.key: build_section(
                    product=ProductInfo(slug=s.product.slug, name=s.product.name),
                    inputs=inputs,
                    now=now,
                    stale_after=settings.DEALS_STALE_AFTER,
                    client_version=client_version,
                )
                for s in wanted
            }

        keys = [s.key for s in plan.sections]
        sections, writes = await self.fragments.get_sections(self.redis.get(l2_url()), keys, render)
        feed = assemble_feed(sections=[s for key in keys if (s := sections[key]) is not None], now=now)
        body = orjson.dumps(feed)
        await self._keep(
            documents_client,
            user_id=user_id,
            client_version=client_version,
            built_under=(
                documents.Generations(user_generation, shared_generation)
                if keep and user_generation is not None and shared_generation is not None
                else None
            ),
            feed=feed,
            body=body,
            valid_until=plan.valid_until,
            writes=writes,
        )
        return BuiltFeed(feed=feed, version=feed["version"], body=body)

    async def _generations(self, client: aioredis.Redis, user_id: int) -> tuple[bytes, bytes] | None:
        prefix = settings.REDIS_KEY_PREFIX
        user_key, shared_key = documents.user_generation_key(prefix, user_id), documents.shared_generation_key(prefix)
        pipe = client.pipeline(transaction=False)
        pipe.set(user_key, documents.new_token(), nx=True)
        pipe.set(shared_key, documents.new_token(), nx=True)
        pipe.mget(user_key, shared_key)
        user, shared = (await pipe.execute())[2]
        if not isinstance(user, bytes) or not isinstance(shared, bytes):
            return None  # replaced or evicted between the SET and the MGET
        return user, shared

    async def _snapshots(self, products: list[FeedProduct]) -> dict[int, DealSnapshotRow]:
        """The newest deal snapshots of ``products``, by id: read once per process (a snapshot
        is never changed once recorded; a new poll records a new one)."""
        wanted = {p.latest_snapshot_id: p for p in products if p.latest_snapshot_id is not None}
        missing = [pk for pk in wanted if pk not in self._deals]
        if missing:
            self._deals.update(await self.db.snapshot_deals(missing))
            while len(self._deals) > _SNAPSHOTS:
                self._deals.popitem(last=False)
        found = {}
        for pk, product in wanted.items():
            deals = self._deals.get(pk)
            if deals is not None and product.latest_snapshot_at is not None:
                self._deals.move_to_end(pk)
                found[pk] = DealSnapshotRow(deals, product.latest_snapshot_at)
        return found

    async def _template_set(self, revision: str, templates: list[feed_sql.TemplateRow]) -> TemplateSet:
        """The published templates (compiled once per version, ui_templates.template_set), kept
        per revision: their trees are read only when the revision is new to this process."""
        found = self._template_sets.get(revision)
        if found is not None:
            self._template_sets.move_to_end(revision)
            return found
        entries = await self.db.template_entries(templates) if templates else []
        template_set = TemplateSet.of(entries)
        if len(entries) == len(templates):  # else a version went away meanwhile: read again next time
            self._template_sets[revision] = template_set
            while len(self._template_sets) > _TEMPLATE_SETS:
                self._template_sets.popitem(last=False)
        return template_set

    async def _keep(
        self,
        client: aioredis.Redis,
        *,
        user_id: int,
        client_version: int | None,
        built_under: documents.Generations | None,
        feed: dict[str, Any],
        body: bytes,
        valid_until: datetime | None,
        writes: Writes,
    ) -> None:
        """Store the document for the fast path and record the sections shown (unless
        ``built_under`` is None), and write what the fragment lookup left; one pipeline when the
        fragments and the documents share a Redis. A failure only costs the next request a build."""
        pipe = client.pipeline(transaction=False)
        if built_under is not None:
            stored = documents.stored_value(
                built_under=built_under, valid_until=valid_until, etag=feed["version"], body=body, now=time.time()
            )
            if feed["sections"]:
                pipe.hset(shown_key(user_id), mapping=shown_fields(feed["sections"]))
                pipe.expire(shown_key(user_id), settings.INTERACTIONS_SHOWN_TTL_SECONDS)
            if stored is not None:
                value, ttl = stored
                pipe.set(documents.document_key(settings.REDIS_KEY_PREFIX, user_id, client_version), value, ex=ttl)
        fragments_pipe = pipe
        if writes and l2_url() != settings.FEED_DOC_REDIS_URL:
            fragments_pipe = self.redis.get(l2_url()).pipeline(transaction=False)
        writes.add_to(fragments_pipe)
        pipes = [pipe] if fragments_pipe is pipe else [pipe, fragments_pipe]
        await asyncio.gather(*(self._execute(p, user_id) for p in pipes if len(p)))

    async def _execute(self, pipe: Pipeline, user_id: int) -> None:
        try:
            await pipe.execute()
        except REDIS_ERRORS:
            documents.metrics.DOCUMENT_ERRORS.inc()
            logger.warning("feed document or fragments of user %s not kept", user_id, exc_info=True)

    async def aclose(self) -> None:
        """Close what this loop holds now (else it closes with the loop)."""
        await self.db.aclose()
        await self.redis.aclose()


_shared: FeedBuilder | None = None


def shared_builder() -> FeedBuilder:
    """This process's builder (its caches of template sets and deals are shared)."""
    global _shared
    if _shared is None:
        _shared = FeedBuilder()
    return _shared
