"""Template services: checks name the JSON path; versions, publishing, roll-back, withdrawal."""

from __future__ import annotations

import io
from typing import Any

import pytest

from homeservice.errors import ApplicationError
from tests.factories import UserFactory
from tests.ui_templates.bad_input import BAD_TREES, LOOP_A, WITH_LOOP_A
from ui_templates import hooks, services
from ui_templates.models import ComponentTemplate, TemplateEvent
from ui_templates.samples import sample_contexts
from ui_templates.schema import Issue
from ui_templates.slots import Slot
from ui_templates.template_set import BUILT_INS_ONLY, TemplateSet

BADGE_CARD: dict[str, Any] = {
    "type": "card",
    "props": {"offer_id": "{{ offer.id }}"},
    "children": [
        {"type": "badge", "props": {"label": "Deal", "tone": "promo"}},
        {"type": "text", "props": {"text": "{{ offer.title }}"}},
    ],
}


def check(tree: Any, *, key: str = "t", slot: str = "", source: TemplateSet = BUILT_INS_ONLY) -> list[Issue]:
    samples = [services.Sample(label="sample", context=c) for c in sample_contexts(slot)]
    return services.template_check(key=key, tree=tree, slot=slot, product_slug="", source=source, samples=samples)


@pytest.mark.parametrize(
    ("key", "tree", "path", "words"), [case[1:] for case in BAD_TREES], ids=[case[0] for case in BAD_TREES]
)
def test_bad_trees_are_refused_naming_the_json_path(key: str, tree: Any, path: str, words: str) -> None:
    issues = check(tree, key=key, source=WITH_LOOP_A)
    assert any(issue.path == path and words in issue.message for issue in issues), issues


def test_a_good_tree_has_no_issues() -> None:
    assert check(BADGE_CARD, slot=Slot.OFFER_CARD) == []
    # loop-a itself includes loop-b, which is not published: the problem is named where it is included.
    [issue] = check({"type": "stack", "children": [{"ref": "loop-a"}]}, key="other", source=WITH_LOOP_A)
    assert (issue.path, LOOP_A.key) == ("$.children[0].ref", "loop-a")
    assert "'loop-b'" in issue.message


def test_data_the_template_does_not_have_fails_the_dry_render_with_the_sample_named() -> None:
    [issue, *_] = check({"type": "text", "props": {"text": "{{ offer.nope }}"}}, slot=Slot.OFFER_CARD)
    assert issue.path == "t:$.props.text"  # the engine names the binding that failed
    assert issue.message.startswith("sample 'sample' / sample:")


def test_a_rendered_document_must_be_valid_and_its_ids_unique() -> None:
    wrong_enum = {"type": "text", "props": {"text": "x", "style": "{{ offer.title }}"}}
    assert any(i.path == "sample 'sample' / sample: $.props.style" for i in check(wrong_enum, slot=Slot.OFFER_CARD))
    twins = {"type": "stack", "children": [{"type": "divider", "id": "a"}, {"type": "divider", "id": "a"}]}
    assert [i.message for i in check(twins)] == ["duplicate id 'a' (also at $.children[0])"]


def test_samples_include_what_the_providers_give(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hooks, "_sample_providers", [lambda slot, product: [("zoe", {"slot": slot, "p": product})]])
    samples = services.provided_samples(slot=Slot.OFFER_CARD, product_slug="mobile")
    assert samples == [{"label": "zoe", "context": {"slot": Slot.OFFER_CARD, "p": "mobile"}}]
    assert len(services.static_samples(slot=Slot.OFFER_CARD)) == len(sample_contexts(Slot.OFFER_CARD))


def test_the_providers_samples_come_last_and_not_for_a_refused_tree(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def provider(slot: str, product: str) -> list[tuple[str, dict[str, Any]]]:
        asked.append(slot)
        return [("zoe", {**sample_contexts(Slot.OFFER_CARD)[0], "offer": {"id": "z"}})]

    monkeypatch.setattr(hooks, "_sample_providers", [provider])
    card = {"type": "text", "props": {"text": "{{ offer.title }}"}}
    [issue] = services.template_check_draft(key="t", tree=card, slot=Slot.OFFER_CARD, product_slug="")
    assert issue.message.startswith("sample 'zoe' / sample:")  # rendered after the static samples, which passed
    for hostile in ("{{ offer.pop('title') }}", "{{ 'x' * 10 ** 9 }}"):
        issues = services.template_check_draft(
            key="t", tree={**card, "props": {"text": hostile}}, slot=Slot.OFFER_CARD, product_slug=""
        )
        assert issues[0].refused
    assert asked == [Slot.OFFER_CARD]  # the hostile trees cost no reads


# --- versions and publishing ----------------------------------------------------------------------


@pytest.fixture
def template(db: None) -> ComponentTemplate:
    return ComponentTemplate.objects.create(
        key="mobile-card", name="Mobile card", slot=Slot.OFFER_CARD, product_slug="mobile", draft_tree=BADGE_CARD
    )


def test_publishing_the_draft_freezes_a_version_and_records_who(template: ComponentTemplate) -> None:
    marketer = UserFactory.create()
    event = services.template_draft_publish(template=template, user=marketer)
    template.refresh_from_db()
    assert event.action == TemplateEvent.Action.PUBLISHED
    assert event.actor == marketer
    assert template.published_version == event.version
    assert event.version is not None
    assert event.version.number == 1
    assert event.version.created_by == marketer


def test_versions_are_numbered_and_never_change(template: ComponentTemplate) -> None:
    user = UserFactory.create()
    first = services.template_version_create(template=template, tree=template.draft_tree, user=user)
    template.draft_tree["children"][0]["props"]["label"] = "Changed"
    template.save()
    second = services.template_version_create(template=template, tree=template.draft_tree, user=user)
    first.refresh_from_db()
    assert (first.number, second.number) == (1, 2)
    assert first.tree["children"][0]["props"]["label"] == "Deal"
    assert second.tree["children"][0]["props"]["label"] == "Changed"


def test_an_invalid_version_cannot_be_published(template: ComponentTemplate) -> None:
    bad = {"type": "text", "props": {"text": 5}}
    version = services.template_version_create(template=template, tree=bad, user=None)
    with pytest.raises(ApplicationError) as refused:
        services.template_publish(template=template, version=version, user=None)
    assert refused.value.code == "template_invalid"
    assert refused.value.details["issues"][0]["path"] == "$.props.text"
    template.refresh_from_db()
    assert template.published_version is None
    assert not TemplateEvent.objects.exists()


def test_an_invalid_draft_publishes_nothing(template: ComponentTemplate) -> None:
    template.draft_tree = {"type": "marquee"}
    with pytest.raises(ApplicationError):
        services.template_draft_publish(template=template, user=None)
    assert not template.versions.exists()


def test_roll_back_and_unpublish_are_recorded(template: ComponentTemplate) -> None:
    user = UserFactory.create()
    v1 = services.template_draft_publish(template=template, user=user).version
    template.draft_tree = {**BADGE_CARD, "children": BADGE_CARD["children"][1:]}
    services.template_draft_publish(template=template, user=user)
    assert v1 is not None

    event = services.template_rollback(template=template, version=v1, user=user)
    template.refresh_from_db()
    assert (event.action, event.actor, template.published_version) == (TemplateEvent.Action.ROLLED_BACK, user, v1)

    withdrawn = services.template_unpublish(template=template, user=user)
    template.refresh_from_db()
    assert template.published_version is None
    assert withdrawn is not None
    assert withdrawn.action == TemplateEvent.Action.UNPUBLISHED
    assert services.template_unpublish(template=template, user=user) is None  # nothing left to withdraw
    assert list(template.events.values_list("action", flat=True)) == [
        "unpublished",
        "rolled_back",
        "published",
        "published",
    ]


def test_publish_and_unpublish_send_the_hooks_after_commit(
    template: ComponentTemplate, django_capture_on_commit_callbacks: Any
) -> None:
    received: list[tuple[str, dict[str, Any]]] = []

    def listen(name: str) -> Any:
        return lambda sender, **kwargs: received.append((name, kwargs))

    published, unpublished = listen("published"), listen("unpublished")
    hooks.template_published.connect(published)
    hooks.template_unpublished.connect(unpublished)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.template_draft_publish(template=template, user=None)
            assert received == []
        with django_capture_on_commit_callbacks(execute=True):
            services.template_unpublish(template=template, user=None)
    finally:
        hooks.template_published.disconnect(published)
        hooks.template_unpublished.disconnect(unpublished)
    assert [(name, kwargs.get("key")) for name, kwargs in received] == [
        ("published", "mobile-card"),
        ("unpublished", "mobile-card"),
    ]


@pytest.mark.django_db
def test_the_demo_users_real_offers_are_checked_too(settings: Any) -> None:
    from django.core.management import call_command

    from recommendations.preview import demo_samples

    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    samples = demo_samples(Slot.OFFER_CARD, "mobile")
    assert [(label, ctx["offer"]["id"]) for label, ctx in samples] == [
        ("alice", "alice-upgrade"),
        ("alice", "alice-roaming"),
    ]
    assert samples[0][1]["section_id"] == "product-mobile"
    # A field no offer has: the check names alice's real offers among the samples that fail.
    template = ComponentTemplate.objects.create(key="c", name="c", slot=Slot.OFFER_CARD, product_slug="mobile")
    issues = services.template_check_tree(template=template, tree={"type": "text", "props": {"text": "{{ offer.x }}"}})
    assert [i.message.split(":")[0] for i in issues][-2:] == ["sample 'alice' / mobile", "sample 'alice' / mobile"]


def test_a_part_other_published_templates_include_cannot_be_withdrawn(db: None) -> None:
    part = ComponentTemplate.objects.create(key="part", name="Part", draft_tree={"type": "divider"})
    services.template_draft_publish(template=part, user=None)
    user = ComponentTemplate.objects.create(
        key="user", name="User", draft_tree={"type": "stack", "children": [{"ref": "part"}]}
    )
    services.template_draft_publish(template=user, user=None)

    with pytest.raises(ApplicationError) as refused:
        services.template_unpublish(template=part, user=None)
    assert (refused.value.code, refused.value.details) == ("template_in_use", {"used_by": ["user"]})

    services.template_unpublish(template=user, user=None)
    assert services.template_unpublish(template=part, user=None) is not None


@pytest.mark.django_db
def test_a_published_template_can_be_deleted_with_its_versions():
    from ui_templates.models import ComponentTemplate, TemplateVersion

    template = ComponentTemplate.objects.create(key="gone", name="Gone", draft_tree={"type": "divider"})
    version = TemplateVersion.objects.create(template=template, number=1, tree={"type": "divider"})
    template.published_version = version
    template.save()
    template.delete()
    assert not TemplateVersion.objects.filter(pk=version.pk).exists()
