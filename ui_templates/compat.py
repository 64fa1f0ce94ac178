"""What each client can render: a client declares the catalogue version it knows (docs/sdui.md).

Components newer than that are replaced by their declared fallback (built from older types) or
left out; a client never receives a type it does not know.
"""

from __future__ import annotations

from typing import Any

from .catalogue import CATALOGUE_VERSION, COMPONENTS


def adapt_for_client(node: dict[str, Any], client_version: int | None) -> dict[str, Any]:
    """``node`` as a client of ``client_version`` can render it (None: the newest catalogue).

    The root itself must be renderable; below it, unrenderable nodes are replaced or removed.
    """
    if client_version is None or client_version >= CATALOGUE_VERSION:
        return node
    adapted = _adapt(node, client_version)
    if adapted is None:
        raise ValueError(f"a {node.get('type')!r} cannot be shown to a client of catalogue v{client_version}")
    return adapted


def _adapt(node: dict[str, Any], version: int) -> dict[str, Any] | None:
    spec = COMPONENTS.get(node.get("type", ""))
    if spec is None:
        return None
    if spec.since > version:
        replacement = spec.fallback(node) if spec.fallback else None
        return _adapt(replacement, version) if replacement is not None else None
    if "children" not in node:
        return node
    children = [child for c in node["children"] if (child := _adapt(c, version)) is not None]
    return {**node, "children": children}


def min_client_version(node: Any) -> int:
    """The oldest catalogue version that renders ``node`` without fallbacks."""
    if not isinstance(node, dict):
        return 1
    spec = COMPONENTS.get(node.get("type", ""))
    own = spec.since if spec else CATALOGUE_VERSION
    return max([own, *(min_client_version(child) for child in node.get("children", []) or [])])
