"""Writes for templates: check a tree, create versions, publish, roll back, withdraw, schedule.

``template_check`` validates (structure, bindings, includes, then a dry render of real and sample
data, each under the feed's render budget); the other functions perform, and re-check before
anything goes live, so the admin, Celery beat and any later API behave the same. A published
version's tree is never changed.
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypedDict

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import Exists, F, Max, OuterRef, Q

from homeservice.errors import ApplicationError

from . import hooks
from .budget import render_limits
from .engine import CompiledTemplate, RenderFailed, TemplateInvalid, compile_template, render
from .models import ComponentTemplate, TemplateEvent, TemplateVersion
from .samples import sample_contexts
from .schema import Issue, validate_document, validate_template_tree
from .selectors import published_templates
from .template_set import TemplateEntry, TemplateSet, include_issues

logger = logging.getLogger(__name__)

User = AbstractBaseUser | AnonymousUser | None


class Sample(TypedDict):
    """A context to dry-render with, and how to name it in messages."""

    label: str
    context: dict[str, Any]


def _product_of(context: dict[str, Any], default: str) -> str:
    product = context.get("product")
    return str(product.get("slug") or default) if isinstance(product, dict) else default


def static_samples(*, slot: str) -> list[Sample]:
    """The made-up samples for ``slot`` (ui_templates/samples.py)."""
    return [Sample(label=f"sample {index + 1}", context=context) for index, context in enumerate(sample_contexts(slot))]


def provided_samples(*, slot: str, product_slug: str) -> list[Sample]:
    """The data the sample providers give (the demo accounts', with ``DEBUG`` on): database reads."""
    provided = hooks.provided_samples(slot=slot, product_slug=product_slug)
    return [Sample(label=label, context=context) for label, context in provided]


def _ids(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        if isinstance(node.get("id"), str):
            yield node["id"], path
        for index, child in enumerate(node.get("children") or []):
            yield from _ids(child, f"{path}.children[{index}]")


def _duplicate_id_issues(document: Any) -> list[Issue]:
    seen: dict[str, str] = {}
    issues = []
    for node_id, path in _ids(document, "$"):
        if node_id in seen:
            issues.append(Issue(f"{path}.id", f"duplicate id {node_id!r} (also at {seen[node_id]})"))
        else:
            seen[node_id] = path
    return issues


def _includes(node: Any, path: str) -> Iterator[tuple[dict[str, Any], str]]:
    """The include nodes (``ref``/``slot``) of a template tree, with their JSON paths."""
    if isinstance(node, dict):
        if "ref" in node or "slot" in node:
            yield node, f"{path}.{'ref' if 'ref' in node else 'slot'}"
        for index, child in enumerate(node.get("children") or []):
            yield from _includes(child, f"{path}.children[{index}]")


def _include_issues_by_path(key: str, tree: Any, source: TemplateSet, products: list[str]) -> list[Issue]:
    """Missing templates and cycles, each at the path of the include in ``tree`` that leads there."""
    issues: dict[tuple[str, str], Issue] = {}
    for node, path in _includes(tree, "$"):
        include = {name: value for name, value in node.items() if name in ("ref", "slot")}
        probe = compile_template(key, {"type": "stack", "children": [include]})
        for issue in include_issues(probe, source, products):
            issues.setdefault((path, issue.message), Issue(path, issue.message))
    return list(issues.values())


def _render_issues(
    compiled: CompiledTemplate, samples: Sequence[Sample], *, product_slug: str, source: TemplateSet
) -> list[Issue]:
    """The problems of dry-rendering each sample under the render budget; a render stopped by the
    budget (or a bounded operation) ends it, so a hostile tree costs one budget at most."""
    issues: list[Issue] = []
    limits = render_limits()
    for sample in samples:
        product = product_slug or _product_of(sample["context"], "sample")
        prefix = f"sample {sample['label']!r} / {product}"
        try:
            document = render(compiled, sample["context"], source=source, product_slug=product, limits=limits)
        except RenderFailed as exc:
            issues.append(Issue(exc.path, f"{prefix}: {exc.message}", refused=exc.refused))
            if exc.refused:
                break
            continue
        for issue in validate_document(document) + _duplicate_id_issues(document):
            issues.append(Issue(f"{prefix}: {issue.path}", issue.message))
    return issues


def template_check(
    *,
    key: str,
    tree: Any,
    slot: str,
    product_slug: str,
    source: TemplateSet,
    samples: Sequence[Sample],
    more_samples: Callable[[], Sequence[Sample]] | None = None,
) -> list[Issue]:
    """Every problem of ``tree`` as the template ``key`` (empty: it may be published).

    Structure first (schema, depth, size), then bindings, then includes (missing templates,
    cycles) over ``source`` with this tree swapped in, then a dry render of each sample whose
    output must be a valid document, under the feed's render budget. ``more_samples`` (the
    providers' data, which costs database reads) are rendered last, and only when none of
    ``samples`` was stopped by the budget: a hostile tree costs no reads.
    """
    issues = validate_template_tree(tree)
    if issues:
        return issues
    try:
        compiled = compile_template(key, tree)
    except TemplateInvalid as exc:
        return exc.issues
    entry = TemplateEntry(key=key, version_tag="draft", tree=tree, slot=slot, product_slug=product_slug)
    draft_set = source.with_entry(entry)
    # Products whose templates could differ: those with templates of their own (and the samples').
    products = (
        {product_slug}
        if product_slug
        else {e.product_slug for e in source.entries.values() if e.product_slug}
        | {_product_of(s["context"], "sample") for s in samples}
    )
    issues = _include_issues_by_path(key, tree, draft_set, sorted(products))
    if issues:
        return issues
    issues = _render_issues(compiled, samples, product_slug=product_slug, source=draft_set)
    if more_samples is not None and not any(issue.refused for issue in issues):
        issues += _render_issues(compiled, more_samples(), product_slug=product_slug, source=draft_set)
    return issues


def template_check_draft(*, key: str, tree: Any, slot: str, product_slug: str) -> list[Issue]:
    """``template_check`` for ``tree`` as ``key`` over the published set, with the static samples
    and then the providers'."""
    return template_check(
        key=key,
        tree=tree,
        slot=slot,
        product_slug=product_slug,
        source=published_templates(),
        samples=static_samples(slot=slot),
        more_samples=functools.partial(provided_samples, slot=slot, product_slug=product_slug),
    )


def template_check_tree(*, template: ComponentTemplate, tree: Any) -> list[Issue]:
    """``template_check_draft`` for ``tree`` as ``template``."""
    return template_check_draft(key=template.key, tree=tree, slot=template.slot, product_slug=template.product_slug)


def template_invalid_error(issues: list[Issue]) -> ApplicationError:
    return ApplicationError(
        "template_invalid",
        f"The template has {len(issues)} problem(s); the first: {issues[0].path}: {issues[0].message}",
        details={"issues": [issue.as_dict() for issue in issues]},
    )


def _actor(user: User) -> Any:
    return user if user is not None and user.is_authenticated else None


def template_version_create(*, template: ComponentTemplate, tree: Any, user: User, note: str = "") -> TemplateVersion:
    """Freeze ``tree`` as the template's next version (versions are never changed afterwards)."""
    with transaction.atomic():
        ComponentTemplate.objects.select_for_update().filter(pk=template.pk).first()
        last = template.versions.aggregate(last=Max("number"))["last"] or 0
        return TemplateVersion.objects.create(
            template=template, number=last + 1, tree=copy.deepcopy(tree), note=note, created_by=_actor(user)
        )


def _notify_published(template: ComponentTemplate, version: TemplateVersion) -> None:
    key, number = template.key, version.number
    transaction.on_commit(lambda: hooks.template_published.send(sender=ComponentTemplate, key=key, version=number))


def template_publish(
    *,
    template: ComponentTemplate,
    version: TemplateVersion,
    user: User,
    action: str = TemplateEvent.Action.PUBLISHED,
    note: str = "",
) -> TemplateEvent:
    """Make ``version`` the live one, after checking it again; raises ``template_invalid``."""
    if version.template_id != template.pk:
        raise ApplicationError("template_version_mismatch", "The version belongs to another template.")
    issues = template_check_tree(template=template, tree=version.tree)
    if issues:
        raise template_invalid_error(issues)
    with transaction.atomic():
        template.published_version = version
        template.save(update_fields=["published_version", "updated_at"])
        event = TemplateEvent.objects.create(
            template=template, version=version, action=action, actor=_actor(user), note=note
        )
        _notify_published(template, version)
    logger.info("template %s v%s %s by %s", template.key, version.number, action, _actor(user))
    return event


def template_draft_publish(*, template: ComponentTemplate, user: User, note: str = "") -> TemplateEvent:
    """Freeze the draft as a new version and publish it; nothing is created when it is invalid."""
    issues = template_check_tree(template=template, tree=template.draft_tree)
    if issues:
        raise template_invalid_error(issues)
    with transaction.atomic():
        version = template_version_create(template=template, tree=template.draft_tree, user=user, note=note)
        return template_publish(template=template, version=version, user=user)


def template_rollback(*, template: ComponentTemplate, version: TemplateVersion, user: User) -> TemplateEvent:
    """Publish an earlier version again (recorded as a roll-back)."""
    return template_publish(template=template, version=version, user=user, action=TemplateEvent.Action.ROLLED_BACK)


def template_unpublish(*, template: ComponentTemplate, user: User, note: str = "") -> TemplateEvent | None:
    """Withdraw the template: its slot shows the built-in (or general) template again.

    Refused (``template_in_use``) while another published template includes it by key.
    """
    published = published_templates()
    dependents = sorted(
        key
        for key in published.entries
        if key != template.key and template.key in (compiled.refs if (compiled := published.by_key(key)) else ())
    )
    if dependents and template.published_version_id is not None:
        raise ApplicationError(
            "template_in_use",
            f"Published templates include this one: {', '.join(dependents)}. Withdraw or change them first.",
            details={"used_by": dependents},
        )
    with transaction.atomic():
        version = template.published_version
        if version is None:
            return None
        template.published_version = None
        template.save(update_fields=["published_version", "updated_at"])
        event = TemplateEvent.objects.create(
            template=template, version=version, action=TemplateEvent.Action.UNPUBLISHED, actor=_actor(user), note=note
        )
        key = template.key
        transaction.on_commit(lambda: hooks.template_unpublished.send(sender=ComponentTemplate, key=key))
    return event


def template_schedule(
    *, version: TemplateVersion, publish_at: datetime | None, unpublish_at: datetime | None, user: User
) -> TemplateEvent:
    """Publish ``version`` at ``publish_at`` and/or withdraw it at ``unpublish_at`` (Celery beat)."""
    if publish_at and unpublish_at and unpublish_at <= publish_at:
        raise ApplicationError("template_schedule_invalid", "The end of a campaign must come after its start.")
    template = version.template
    if publish_at is not None:
        issues = template_check_tree(template=template, tree=version.tree)
        if issues:
            raise template_invalid_error(issues)
    with transaction.atomic():
        version.publish_at = publish_at
        version.unpublish_at = unpublish_at
        version.save(update_fields=["publish_at", "unpublish_at"])
        when = ", ".join(
            part
            for part in (
                f"publish at {publish_at.isoformat()}" if publish_at else "",
                f"unpublish at {unpublish_at.isoformat()}" if unpublish_at else "",
            )
            if part
        )
        return TemplateEvent.objects.create(
            template=template,
            version=version,
            action=TemplateEvent.Action.SCHEDULED,
            actor=_actor(user),
            note=when or "schedule cleared",
        )


def templates_apply_schedules(*, now: datetime) -> dict[str, int]:
    """Carry out due schedules: publish versions whose time has come, withdraw ended campaigns.

    Idempotent: a version counts as done once it was published at or after its ``publish_at``
    (and a campaign once withdrawn, or published again by hand, after its ``unpublish_at``).
    """
    published_since_start = TemplateEvent.objects.filter(
        version=OuterRef("pk"),
        action__in=[TemplateEvent.Action.PUBLISHED, TemplateEvent.Action.ROLLED_BACK],
        created_at__gte=OuterRef("publish_at"),
    )
    due = (
        TemplateVersion.objects.filter(publish_at__lte=now)
        .filter(Q(unpublish_at__isnull=True) | Q(unpublish_at__gt=now))
        .exclude(template__published_version=F("pk"))
        .exclude(Exists(published_since_start))
        .select_related("template")
        .order_by("template_id", "number")
    )
    published = withdrawn = 0
    for version in due:
        try:
            template_publish(template=version.template, version=version, user=None, note="scheduled")
            published += 1
        except ApplicationError as exc:
            # Checked when scheduled; data changed since. Drop the schedule rather than retry forever.
            logger.warning("scheduled publish of %s refused: %s", version, exc.message)
            version.publish_at = None
            version.save(update_fields=["publish_at"])
    republished_after_end = TemplateEvent.objects.filter(
        version=OuterRef("published_version"),
        action__in=[TemplateEvent.Action.PUBLISHED, TemplateEvent.Action.ROLLED_BACK],
        created_at__gt=OuterRef("published_version__unpublish_at"),
    )
    ended = (
        ComponentTemplate.objects.filter(published_version__unpublish_at__lte=now)
        .exclude(Exists(republished_after_end))
        .select_related("published_version")
    )
    for template in ended:
        try:
            template_unpublish(template=template, user=None, note="scheduled")
            withdrawn += 1
        except ApplicationError as exc:
            logger.warning("scheduled unpublish of %s refused: %s", template.key, exc.message)
    return {"published": published, "unpublished": withdrawn}
