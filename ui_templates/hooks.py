"""How ``ui_templates`` tells the apps above it about templates, and asks them for data.

``ui_templates`` must not import ``products`` or ``recommendations`` (as ``products/hooks.py``):

- ``template_published(sender=ComponentTemplate, key=str, version=int)`` and
  ``template_unpublished(sender=ComponentTemplate, key=str)``: a template's live version changed.
  Sent after the change is committed; ``recommendations`` pushes ``feed.updated`` to clients.
- Sample providers: ``register_sample_provider(fn)``, ``fn(slot, product_slug)`` returns
  ``[(label, context), ...]``: more data to dry-render a template with before publishing.
- The preview provider: ``register_preview_provider(fn, users=...)``, ``fn(username=...,
  template_set=...)`` returns the user's whole home feed rendered with ``template_set``;
  ``users()`` names the preview users (asked each time: which exist depends on ``DEBUG``).

Providers give sample users (fixtures) or, with ``DEBUG`` only, demo accounts; never a real
customer's data.

Providers are registered in the upper apps' ``AppConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.dispatch import Signal

from .template_set import TemplateSet

template_published = Signal()
template_unpublished = Signal()

SampleProvider = Callable[[str, str], list[tuple[str, dict[str, Any]]]]


class PreviewFeed(Protocol):
    def __call__(self, *, username: str, template_set: TemplateSet) -> dict[str, Any]: ...


@dataclass(frozen=True)
class PreviewProvider:
    render: PreviewFeed
    list_users: Callable[[], Sequence[str]]

    @property
    def users(self) -> tuple[str, ...]:
        return tuple(self.list_users())


_sample_providers: list[SampleProvider] = []
_preview_provider: list[PreviewProvider] = []


def register_sample_provider(fn: SampleProvider) -> None:
    if fn not in _sample_providers:
        _sample_providers.append(fn)


def provided_samples(*, slot: str, product_slug: str) -> list[tuple[str, dict[str, Any]]]:
    """Every registered provider's samples for a template filling ``slot`` for ``product_slug``."""
    return [sample for provider in _sample_providers for sample in provider(slot, product_slug)]


def register_preview_provider(fn: PreviewFeed, *, users: Callable[[], Sequence[str]]) -> None:
    _preview_provider[:] = [PreviewProvider(render=fn, list_users=users)]


def preview_provider() -> PreviewProvider | None:
    return _preview_provider[0] if _preview_provider else None
