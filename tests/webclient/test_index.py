"""``/`` serves the built web client, or says how to build it; the API does not depend on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from whitenoise.middleware import WhiteNoiseMiddleware

from webclient import views


@pytest.fixture
def build_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(views, "BUILD_DIR", tmp_path)
    return tmp_path


def test_index_serves_the_built_client(client: Client, build_dir: Path) -> None:
    (build_dir / "index.html").write_text('<div id="root"></div><script src="/static/webclient/assets/x.js"></script>')

    response = client.get("/")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert b'<div id="root">' in response.content
    assert response["Cache-Control"] == "no-cache"
    # The admin's template editor frames it (preview mode); other sites may not.
    assert response["X-Frame-Options"] == "SAMEORIGIN"


def test_without_a_build_index_says_how_to_build_it(client: Client, build_dir: Path) -> None:
    response = client.get("/")

    assert response.status_code == 503
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert b"The web client is not built" in response.content
    assert b"make web" in response.content


@pytest.mark.django_db
def test_the_api_works_without_a_build(client: Client, build_dir: Path) -> None:
    assert client.get("/api/v1/ui/catalogue/").status_code == 200
    assert client.get("/healthz").status_code == 200


def test_index_answers_get_only(client: Client, build_dir: Path) -> None:
    assert client.post("/").status_code == 405


@pytest.mark.parametrize(
    ("url", "immutable"),
    [
        ("/static/webclient/assets/index-CIJXG3JW.js", True),
        ("/static/webclient/assets/index-C3Vqef9E.css", True),
        ("/static/webclient/assets/index-CIJXG3JW.js.map", True),
        ("/static/admin/css/base.0123456789ab.css", True),  # Django's manifest storage
        ("/static/webclient/index.html", False),
        ("/static/webclient/assets/logo.svg", False),
        ("/static/admin/css/base.css", False),
    ],
)
def test_only_content_hashed_files_are_cached_forever(url: str, immutable: bool) -> None:
    middleware = WhiteNoiseMiddleware(get_response=lambda request: None)

    assert middleware.immutable_file_test("", url) is immutable
