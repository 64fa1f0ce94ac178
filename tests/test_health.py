"""Liveness and readiness probes (homeservice/health.py)."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_healthz_is_200_without_authentication():
    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_200_when_the_database_and_redis_answer(settings):
    response = Client().get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    expected = {"database": "ok", "redis": "ok"} if settings.REDIS_URL else {"database": "ok"}
    assert body["checks"] == expected


def test_readyz_is_503_json_naming_redis_when_redis_does_not_answer(settings):
    # given a Redis URL where nothing listens
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    # when
    response = Client().get("/readyz")

    # then
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert "redis" in error["message"]
    assert error["details"]["database"] == "ok"
    assert error["details"]["redis"].startswith("error: ")


def test_readyz_is_503_naming_the_database_when_it_fails(monkeypatch):
    # given a database connection that raises (stands in for a database that went away)
    class UnreachableDatabase:
        def cursor(self) -> None:
            raise OSError("connection refused")

    monkeypatch.setattr("homeservice.health.connection", UnreachableDatabase())

    # when
    response = Client().get("/readyz")

    # then
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert error["details"]["database"] == "error: OSError: connection refused"


@pytest.mark.parametrize("url", ["/healthz", "/readyz"])
def test_probes_need_no_https_redirect_in_production(settings, url):
    # given production's HTTPS redirect
    settings.SECURE_SSL_REDIRECT = True

    # when a plain-HTTP probe arrives (load balancers and orchestrators probe over HTTP)
    response = Client().get(url)

    # then it is answered, not redirected, while other plain-HTTP requests are
    assert response.status_code == 200
    redirected = Client().get("/api/v1/home/")
    assert redirected.status_code == 301
    assert redirected["Location"].startswith("https://")


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_other_methods_with_a_json_405(client, path):
    response = client.post(path)
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response.json()["error"]["code"] == "method_not_allowed"
