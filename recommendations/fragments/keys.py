"""Fragment cache keys: what a fragment is for, plus the version of its own inputs.

- ``frag:u:<user id>:<product slug>:<client version>:<inputs version>``: one user's section for a
  product where they have live offers;
- ``frag:g:<product slug>:<client version>:<inputs version>``: a product's generic deals section.

The inputs version hashes everything the rendered section depends on (offer ids, versions and
update times; the deal snapshot and when it was last confirmed; whether it is stale; the product's
name; the live templates), all read from the database on each request. So a changed input makes a
new key: no cache layer, on any instance, can serve a section made from older inputs. Invalidation
(invalidation.py) only frees what can no longer be asked for.

L2 also keeps, per user and per product, the set of its fragment keys (``fragset:u:<user id>``,
``fragset:g:<product slug>``), so that an invalidation deletes exactly those keys instead of
scanning the key space (l2.py).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

PREFIX = "frag"


def inputs_version(*parts: Any) -> str:
    return hashlib.sha256(orjson.dumps(parts, default=str)).hexdigest()[:16]


def _cv(client_version: int | None) -> str:
    return "n" if client_version is None else str(client_version)


def personal_key(*, user_id: int, product_slug: str, client_version: int | None, version: str) -> str:
    return f"{PREFIX}:u:{user_id}:{product_slug}:{_cv(client_version)}:{version}"


def generic_key(*, product_slug: str, client_version: int | None, version: str) -> str:
    return f"{PREFIX}:g:{product_slug}:{_cv(client_version)}:{version}"


def matches(key: str, *, user_id: int | None, product_slug: str) -> bool:
    """Is ``key`` among the fragments an invalidation names? (see ``Invalidation``)"""
    parts = key.split(":")
    if len(parts) < 4 or parts[0] != PREFIX:
        return False
    if user_id is not None:
        return parts[1] == "u" and parts[2] == str(user_id) and (not product_slug or parts[3] == product_slug)
    if product_slug:
        return parts[1] == "g" and parts[2] == product_slug
    return True


def l2_pattern(*, user_id: int | None, product_slug: str) -> str:
    """The same selection as ``matches``, as a Redis glob over fragment keys."""
    if user_id is not None:
        return f"{PREFIX}:u:{user_id}:{product_slug}:*" if product_slug else f"{PREFIX}:u:{user_id}:*"
    if product_slug:
        return f"{PREFIX}:g:{product_slug}:*"
    return f"{PREFIX}:*"


def group(key: str) -> str | None:
    """The L2 key set ``key`` belongs to (None: not a fragment key)."""
    parts = key.split(":")
    if len(parts) < 4 or parts[0] != PREFIX or parts[1] not in ("u", "g"):
        return None
    return f"fragset:{parts[1]}:{parts[2]}"


def group_of_invalidation(*, user_id: int | None, product_slug: str) -> str | None:
    """The key set holding what an invalidation names (None: every fragment)."""
    if user_id is not None:
        return f"fragset:u:{user_id}"
    if product_slug:
        return f"fragset:g:{product_slug}"
    return None
