"""``GET /metrics`` (homeservice/metrics.py): Prometheus exposition, and who may read it."""

from __future__ import annotations

import pytest
from django.test import Client
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import OfferFactory, ProductFactory
from ui_templates.models import ComponentTemplate, TemplateVersion
from ui_templates.slots import Slot

URL = "/metrics"
REMOTE = "203.0.113.7"
FAILURES = "homeservice_template_render_failures"


def render_failures(body: bytes, **labels: str) -> float:
    """The counter's value for ``labels`` in an exposition (0 when it has no such sample)."""
    for family in text_string_to_metric_families(body.decode()):
        if family.name == FAILURES:
            for sample in family.samples:
                if sample.name == f"{FAILURES}_total" and sample.labels == labels:
                    return sample.value
    return 0.0


@pytest.fixture
def client() -> Client:
    return Client()


def test_loopback_gets_the_exposition(client: Client) -> None:
    response = client.get(URL, REMOTE_ADDR="127.0.0.1")

    assert response.status_code == 200
    assert response["Content-Type"] == CONTENT_TYPE_LATEST
    body = response.content.decode()
    assert f"# TYPE {FAILURES}_total counter" in body
    assert f"# HELP {FAILURES}_total " in body


def test_ipv6_loopback_is_loopback(client: Client) -> None:
    assert client.get(URL, REMOTE_ADDR="::1").status_code == 200


def test_head_is_allowed(client: Client) -> None:
    assert client.head(URL, REMOTE_ADDR="127.0.0.1").status_code == 200


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_other_methods_are_a_json_405(client: Client, method: str) -> None:
    response = getattr(client, method)(URL, REMOTE_ADDR="127.0.0.1")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response["Allow"] == "GET, HEAD"


def test_a_remote_client_without_a_token_is_a_json_403(client: Client) -> None:
    response = client.get(URL, REMOTE_ADDR=REMOTE)

    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "permission_denied"
    assert FAILURES not in response.content.decode()


@pytest.mark.parametrize(
    "forwarded",
    [
        "X-Forwarded-For",
        "Forwarded",
        "X-Real-IP",  # nginx's usual `proxy_set_header X-Real-IP $remote_addr`, alone
        "X-Forwarded-Host",
        "X-Forwarded-Proto",
        "X-Client-IP",
        "True-Client-IP",
        "CF-Connecting-IP",
    ],
)
def test_a_request_forwarded_by_a_local_proxy_is_not_loopback(client: Client, forwarded: str) -> None:
    response = client.get(URL, REMOTE_ADDR="127.0.0.1", headers={forwarded: REMOTE})

    assert response.status_code == 403


def test_a_forwarded_request_with_the_token_gets_the_exposition(client: Client, settings) -> None:
    settings.METRICS_TOKEN = "s3cret-token"
    headers = {"X-Real-IP": REMOTE, "Authorization": "Bearer s3cret-token"}

    assert client.get(URL, REMOTE_ADDR="127.0.0.1", headers=headers).status_code == 200


def test_debug_opens_it(client: Client, settings) -> None:
    settings.DEBUG = True

    assert client.get(URL, REMOTE_ADDR=REMOTE).status_code == 200


def test_the_metrics_token_opens_it(client: Client, settings) -> None:
    settings.METRICS_TOKEN = "scrape-secret"

    assert client.get(URL, REMOTE_ADDR=REMOTE, HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 200
    assert client.get(URL, REMOTE_ADDR=REMOTE, HTTP_AUTHORIZATION="bearer scrape-secret").status_code == 200


@pytest.mark.parametrize("authorization", ["Bearer wrong", "Bearer ", "Basic scrape-secret", "scrape-secret"])
def test_a_wrong_token_is_a_403(client: Client, settings, authorization: str) -> None:
    settings.METRICS_TOKEN = "scrape-secret"

    assert client.get(URL, REMOTE_ADDR=REMOTE, HTTP_AUTHORIZATION=authorization).status_code == 403


def test_without_a_configured_token_no_token_opens_it(client: Client, settings) -> None:
    settings.METRICS_TOKEN = ""

    assert client.get(URL, REMOTE_ADDR=REMOTE, HTTP_AUTHORIZATION="Bearer ").status_code == 403


@pytest.mark.django_db
def test_a_render_failure_in_the_feed_is_counted_at_metrics(client: Client, auth_client, user) -> None:
    # given a published personalised-section template that fails for real data
    template = ComponentTemplate.objects.create(
        key="broken-section", name="Broken", slot=Slot.PRODUCT_PERSONALISED, draft_tree={}
    )
    version = TemplateVersion.objects.create(
        template=template, number=3, tree={"type": "text", "props": {"text": "{{ offers[0].missing_field }}"}}
    )
    template.published_version = version
    template.save()
    OfferFactory.create(user=user, product=ProductFactory.create(slug="mobile"), external_id="o1")
    labels = {"slot": Slot.PRODUCT_PERSONALISED.value, "template": "broken-section", "version": "v3"}
    before = render_failures(client.get(URL, REMOTE_ADDR="127.0.0.1").content, **labels)

    # when the user's feed is rendered
    feed = auth_client.get("/api/v1/home/")

    # then the section falls back to the built-in template, and the failure is counted
    assert feed.status_code == 200
    [section] = feed.json()["sections"]
    assert section["component"]["type"] == "section"
    assert render_failures(client.get(URL, REMOTE_ADDR="127.0.0.1").content, **labels) == before + 1
