"""The product-backend simulator (products/simulator.py): /simulator/products/<slug>/deals/ and
/simulator/products/<slug>/users/<username>/offers/.

The simulator is mounted only when ``PRODUCT_SIMULATOR_ENABLED`` (off in tests, as in production),
so the tests that use it route through this module: the project's URLconf plus the simulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from copy import deepcopy
from typing import Any

import orjson
import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import include, path

from homeservice import urls as project_urls
from products.backend_client import validate_offers_document
from products.demo_catalogue import DEMO_PRODUCTS, demo_product
from products.simulator import rotating_deals, user_offers
from tests.factories import deal

urlpatterns = [*project_urls.urlpatterns, path("simulator/", include("products.simulator_urls"))]
handler404 = project_urls.handler404

with_simulator = pytest.mark.urls(__name__)

TOUCHED_SLUGS = ("mobile", "tv", "made-up")


@pytest.fixture(autouse=True)
def _clean_simulator_state() -> Iterator[None]:
    """The simulator keeps its deals in the cache (Redis when configured): remove only its keys."""
    yield
    cache.delete_many([f"simulator:{kind}:{slug}" for slug in TOUCHED_SLUGS for kind in ("deals", "outage")])


def url(slug: str) -> str:
    return f"/simulator/products/{slug}/deals/"


def put(client: Client, slug: str, document: Any) -> Any:
    body = document if isinstance(document, bytes) else orjson.dumps(document)
    return client.put(url(slug), data=body, content_type="application/json")


# --- GET --------------------------------------------------------------------------------------------


@with_simulator
def test_get_serves_the_demo_deals_with_an_etag():
    response = Client().get(url("mobile"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["ETag"].startswith('"')
    assert response["ETag"].endswith('"')
    deals = response.json()["deals"]
    assert [d["id"] for d in deals] == [d["id"] for d in demo_product("mobile")["deals"]]  # type: ignore[index]


@with_simulator
def test_get_with_the_current_etag_is_304_without_a_body():
    # given deals that do not rotate, and their ETag
    client = Client()
    put(client, "tv", {"deals": [deal("t1")]})
    etag = client.get(url("tv"))["ETag"]

    # when
    response = client.get(url("tv"), HTTP_IF_NONE_MATCH=etag)

    # then
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag


@with_simulator
def test_get_with_an_old_etag_serves_the_new_deals():
    client = Client()
    put(client, "tv", {"deals": [deal("t1")]})
    old_etag = client.get(url("tv"))["ETag"]
    put(client, "tv", {"deals": [deal("t2")]})

    response = client.get(url("tv"), HTTP_IF_NONE_MATCH=old_etag)

    assert response.status_code == 200
    assert response["ETag"] != old_etag
    assert [d["id"] for d in response.json()["deals"]] == ["t2"]


@with_simulator
def test_an_unknown_product_is_404_json():
    response = Client().get(url("no-such-product"))

    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert "no-such-product" in error["message"]


# --- PUT and DELETE ------------------------------------------------------------------------------------


@with_simulator
def test_put_valid_deals_replaces_what_get_serves():
    # given
    client = Client()
    deals = [deal("t1", "Sports free for a month", "0.00"), {"id": "t2", "title": "Minimal"}]

    # when
    response = put(client, "tv", {"deals": deals})

    # then
    assert response.status_code == 204
    assert client.get(url("tv")).json() == {"deals": deals}


@with_simulator
def test_put_makes_an_unknown_product_servable():
    client = Client()

    assert put(client, "made-up", {"deals": [deal("x1")]}).status_code == 204
    assert client.get(url("made-up")).json()["deals"][0]["id"] == "x1"


@with_simulator
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "unexpected character"),
        ({"deals": [{"title": "No id"}]}, "$.deals[0]"),
        ({"deals": [{"id": "d1", "title": "T", "price": {"amount": "ten", "currency": "EUR"}}]}, "$.deals[0].price"),
        ({"offers": []}, "'deals' is a required property"),
    ],
    ids=["not-json", "no-id", "bad-price", "no-deals"],
)
def test_put_invalid_deals_is_400_json_and_changes_nothing(body, message):
    # given deals set before
    client = Client()
    put(client, "tv", {"deals": [deal("t1")]})

    # when
    response = put(client, "tv", body)

    # then
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_deals"
    assert message in error["message"]
    assert set(error) == {"code", "message", "details"}
    assert [d["id"] for d in client.get(url("tv")).json()["deals"]] == ["t1"]


@with_simulator
def test_delete_goes_back_to_the_demo_deals(settings):
    # given deals set by a test, and a rotation too slow to move during this test
    settings.SIMULATOR_ROTATE_SECONDS = 10**12
    client = Client()
    put(client, "mobile", {"deals": [deal("m-custom")]})

    # when
    response = client.delete(url("mobile"))

    # then
    assert response.status_code == 204
    assert client.get(url("mobile")).json() == {"deals": rotating_deals("mobile")}


@with_simulator
def test_other_methods_are_refused():
    assert Client().post(url("tv"), data=b"{}", content_type="application/json").status_code == 405


def test_the_simulator_is_not_mounted_unless_enabled():
    response = Client().get(url("mobile"))

    assert response.status_code == 404
    assert response.json()["error"]["details"] == {"path": url("mobile")}


# --- the rotating deal of the moment -------------------------------------------------------------------


@pytest.mark.parametrize("slug", [p["slug"] for p in DEMO_PRODUCTS])
def test_rotation_changes_only_the_first_deals_price_and_title(settings, slug):
    settings.SIMULATOR_ROTATE_SECONDS = 60
    base = deepcopy(demo_product(slug)["deals"])  # type: ignore[index]

    at_rest = rotating_deals(slug, now=0)
    rotated = rotating_deals(slug, now=60)

    assert at_rest == base
    assert rotated[1:] == base[1:]
    assert rotated[0]["id"] == base[0]["id"]
    assert rotated[0]["title"] == f"{base[0]['title']} (deal of the moment)"
    assert float(rotated[0]["price"]["amount"]) == pytest.approx(float(base[0]["price"]["amount"]) - 1)
    # and the catalogue itself is not changed by rotating
    assert demo_product(slug)["deals"] == base  # type: ignore[index]


def test_rotation_comes_back_round_every_four_periods(settings):
    settings.SIMULATOR_ROTATE_SECONDS = 60

    assert rotating_deals("mobile", now=4 * 60 + 1) == rotating_deals("mobile", now=1)
    assert rotating_deals("mobile", now=2 * 60) != rotating_deals("mobile", now=60)


def test_an_unknown_product_has_no_rotating_deals():
    assert rotating_deals("no-such-product", now=0) == []


# --- a user's offers (offers.invalidated fetches them) -------------------------------------------------


def offers_url(slug: str, username: str) -> str:
    return f"/simulator/products/{slug}/users/{username}/offers/"


@with_simulator
@pytest.mark.parametrize("slug", [p["slug"] for p in DEMO_PRODUCTS])
def test_user_offers_are_a_valid_offers_document_the_same_each_time(slug):
    client = Client()

    first = client.get(offers_url(slug, "alice"))
    again = client.get(offers_url(slug, "alice"))

    assert first.status_code == 200
    assert first["Content-Type"] == "application/json"
    offers = validate_offers_document(first.json())
    assert 1 <= len(offers) <= 2
    assert again.content == first.content
    assert again["ETag"] == first["ETag"]


@with_simulator
def test_user_offers_differ_by_user_and_product():
    client = Client()
    bodies = {
        (slug, user): client.get(offers_url(slug, user)).content
        for slug in ("mobile", "tv")
        for user in ("alice", "bob")
    }

    assert len(set(bodies.values())) == 4


@with_simulator
def test_user_offers_with_the_current_etag_are_304():
    client = Client()
    etag = client.get(offers_url("mobile", "bob"))["ETag"]

    response = client.get(offers_url("mobile", "bob"), HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag
    assert client.get(offers_url("mobile", "bob"), HTTP_IF_NONE_MATCH='"old"').status_code == 200


@with_simulator
def test_user_offers_of_an_unknown_product_are_404_json():
    response = Client().get(offers_url("no-such-product", "alice"))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@with_simulator
def test_user_offers_take_only_get():
    assert Client().post(offers_url("mobile", "alice"), data=b"{}", content_type="application/json").status_code == 405


def test_user_offers_match_what_the_function_gives():
    assert user_offers("mobile", "carol") == user_offers("mobile", "carol")
    assert user_offers("no-such-product", "carol") == []


# --- a simulated outage ------------------------------------------------------------------------------


def outage(slug: str) -> str:
    return f"/simulator/products/{slug}/outage/"


@with_simulator
@pytest.mark.parametrize("status", [503, 500, 429])
def test_an_outage_makes_the_deals_endpoint_answer_its_status_until_it_ends(status):
    client = Client()

    started = client.put(outage("mobile"), data=orjson.dumps({"status": status}), content_type="application/json")
    during = client.get(url("mobile"))
    ended = client.delete(outage("mobile"))
    after = client.get(url("mobile"))

    assert started.status_code == 204
    assert during.status_code == status
    assert during.json()["error"]["code"] == "outage"
    assert ended.status_code == 204
    assert after.status_code == 200
    assert after.json()["deals"]


@with_simulator
@pytest.mark.parametrize("body", [b"{}", b'{"status": 404}', b'{"status": "503"}', b'{"status": true}', b"[]", b"nope"])
def test_an_outage_needs_a_5xx_or_429_status(body):
    response = Client().put(outage("mobile"), data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_outage"
    assert Client().get(url("mobile")).status_code == 200
