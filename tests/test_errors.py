"""One error vocabulary (homeservice/errors.py): every error is ``{"error": {"code", "message", "details"}}``.

Most cases go through the project's real URLconf. The handlers Django uses for errors raised
outside DRF (400, 403, 500) are reached through this module used as the URLconf: the project's
routes plus a few views that raise, with the project's own ``handler*`` settings.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.test import Client
from django.urls import path
from rest_framework import exceptions
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from homeservice import errors
from homeservice import urls as project_urls

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
HOME_URL = "/api/v1/home/"


# --- this module as a URLconf --------------------------------------------------------------------


def forbidden_view(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied("no")


def suspicious_view(request: HttpRequest) -> HttpResponse:
    raise SuspiciousOperation("odd")


def crashing_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom: internal detail")


class RaisingDjangoErrorsApi(APIView):
    """An API view raising Django's own exceptions (``get_object_or_404``, a permission check)."""

    permission_classes = []

    def get(self, request: Request, kind: str) -> Response:
        if kind == "missing":
            raise Http404("No such plan.")
        raise PermissionDenied("Not your plan.")


class StaffOnlyApi(APIView):
    permission_classes = [IsAdminUser]

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


urlpatterns = [
    path("test/forbidden/", forbidden_view),
    path("test/suspicious/", suspicious_view),
    path("test/crash/", crashing_view),
    path("test/staff-only/", StaffOnlyApi.as_view()),
    path("test/api-raises/<str:kind>/", RaisingDjangoErrorsApi.as_view()),
    *project_urls.urlpatterns,
]
handler400 = project_urls.handler400
handler403 = project_urls.handler403
handler404 = project_urls.handler404
handler500 = project_urls.handler500

with_test_views = pytest.mark.urls(__name__)


def error_of(response: Any, status: int) -> dict[str, Any]:
    """The error object of a JSON error response, after checking its status and shape."""
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


# --- 400 -------------------------------------------------------------------------------------------


def test_token_request_with_missing_fields_is_400_naming_the_fields(api_client):
    response = api_client.post(TOKEN_URL, {}, format="json")

    error = error_of(response, 400)
    assert error["code"] == "invalid"
    assert set(error["details"]) == {"username", "password"}
    assert error["details"]["username"] == ["This field is required."]


def test_token_request_with_one_field_missing_names_only_that_field(api_client):
    response = api_client.post(TOKEN_URL, {"username": "someone"}, format="json")

    error = error_of(response, 400)
    assert set(error["details"]) == {"password"}


def test_malformed_json_is_400_parse_error(api_client):
    response = api_client.post(TOKEN_URL, data=b'{"username": "a", ', content_type="application/json")

    error = error_of(response, 400)
    assert error["code"] == "parse_error"
    assert "JSON" in error["message"]


def test_json_that_is_not_an_object_is_400(api_client):
    response = api_client.post(TOKEN_URL, data=b'["alice", "pw"]', content_type="application/json")

    error = error_of(response, 400)
    assert error["code"] == "invalid"
    assert "non_field_errors" in error["details"]


def test_a_request_for_an_unknown_host_is_400_json():
    # DisallowedHost is raised by Django itself, before any view: handler400 answers
    response = Client().get("/healthz", HTTP_HOST="evil.example.com")

    error = error_of(response, 400)
    assert error["code"] == "bad_request"


@with_test_views
def test_a_suspicious_operation_in_a_django_view_is_400_json():
    response = Client().get("/test/suspicious/")

    assert error_of(response, 400)["code"] == "bad_request"


# --- 401 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "code"),
    [(None, "not_authenticated"), ("Bearer not-a-jwt", "token_not_valid")],
)
def test_unauthenticated_api_requests_are_401_json(authorization, code):
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)

    response = client.get(HOME_URL)

    assert error_of(response, 401)["code"] == code


# --- 403 -------------------------------------------------------------------------------------------


@with_test_views
def test_a_drf_permission_refusal_is_403_json(auth_client):
    # given an authenticated user who is not staff, on a staff-only API view
    response = auth_client.get("/test/staff-only/")

    error = error_of(response, 403)
    assert error["code"] == "permission_denied"
    assert error["details"] == {}


@with_test_views
@pytest.mark.parametrize(
    ("kind", "status", "code"), [("missing", 404, "not_found"), ("forbidden", 403, "permission_denied")]
)
def test_djangos_http404_and_permission_denied_in_an_api_view_are_json(kind, status, code):
    response = APIClient().get(f"/test/api-raises/{kind}/")

    error = error_of(response, status)
    assert error["code"] == code
    assert error["message"] in ("No such plan.", "Not your plan.")


@with_test_views
def test_permission_denied_in_a_django_view_is_403_json():
    response = Client().get("/test/forbidden/")

    error = error_of(response, 403)
    assert error["code"] == "permission_denied"


def test_the_project_wires_the_json_handlers():
    assert project_urls.handler400 == "homeservice.errors.bad_request"
    assert project_urls.handler403 == "homeservice.errors.permission_denied"
    assert project_urls.handler404 == "homeservice.errors.page_not_found"
    assert project_urls.handler500 == "homeservice.errors.server_error"


# --- 404 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/no/such/page/", "/api/v1/no-such-endpoint/", "/api/v2/home/"])
def test_an_unknown_url_is_404_json_naming_the_path(url):
    response = Client().get(url)

    error = error_of(response, 404)
    assert error["code"] == "not_found"
    assert error["details"] == {"path": url}


# --- 405 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_method_the_home_feed_does_not_allow_is_405_json(auth_client, method):
    response = getattr(auth_client, method)(HOME_URL, {}, format="json")

    error = error_of(response, 405)
    assert error["code"] == "method_not_allowed"
    assert method.upper() in error["message"]
    assert response["Allow"]


def test_a_get_on_the_token_endpoint_is_405_json(api_client):
    assert error_of(api_client.get(TOKEN_URL), 405)["code"] == "method_not_allowed"


# --- 415 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
def test_a_token_request_that_is_not_json_is_415(api_client, content_type):
    response = api_client.post(TOKEN_URL, data=b"username=a&password=b", content_type=content_type)

    error = error_of(response, 415)
    assert error["code"] == "unsupported_media_type"


# --- 500 -------------------------------------------------------------------------------------------


@with_test_views
def test_an_unexpected_error_in_a_django_view_is_500_json_without_internals():
    response = Client(raise_request_exception=False).get("/test/crash/")

    error = error_of(response, 500)
    assert error["code"] == "server_error"
    assert "boom" not in response.content.decode()


def test_an_unexpected_error_in_an_api_view_is_500_json(user, monkeypatch):
    # given building the feed failing unexpectedly
    def broken_feed_answer(**kwargs: Any) -> Any:
        raise RuntimeError("boom: internal detail")

    monkeypatch.setattr("recommendations.api.home.feed_answer", broken_feed_answer)
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(user)

    # when
    response = client.get(HOME_URL)

    # then
    error = error_of(response, 500)
    assert error["code"] == "server_error"
    assert "boom" not in response.content.decode()


# --- the DRF exception handler on its own ----------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (exceptions.PermissionDenied(), 403, "permission_denied"),
        (exceptions.PermissionDenied("Only marketers may do this."), 403, "permission_denied"),
        (PermissionDenied(), 403, "permission_denied"),
        (exceptions.NotFound(), 404, "not_found"),
        (exceptions.Throttled(wait=7), 429, "throttled"),
        (exceptions.NotAuthenticated(), 401, "not_authenticated"),
        (exceptions.ValidationError({"title": ["Too long."]}), 400, "invalid"),
        (exceptions.ValidationError(["Bad."]), 400, "invalid"),
        (errors.ApplicationError("stale_sequence", "An older event.", status_code=409), 409, "stale_sequence"),
    ],
)
def test_api_exception_handler_maps_every_error_to_the_error_body(exc, status, code):
    response = errors.api_exception_handler(exc, {})

    assert response is not None
    assert response.status_code == status
    assert set(response.data) == {"error"}
    assert set(response.data["error"]) == {"code", "message", "details"}
    assert response.data["error"]["code"] == code
    assert response.data["error"]["message"]


def test_api_exception_handler_keeps_the_message_and_details():
    drf_403 = errors.api_exception_handler(exceptions.PermissionDenied("Only marketers may do this."), {})
    invalid = errors.api_exception_handler(exceptions.ValidationError({"title": ["Too long."]}), {})
    listed = errors.api_exception_handler(exceptions.ValidationError(["Bad."]), {})
    app = errors.api_exception_handler(
        errors.ApplicationError("stale_sequence", "An older event.", details={"sequence": 3}, status_code=409), {}
    )
    throttled = errors.api_exception_handler(exceptions.Throttled(wait=7), {})

    assert drf_403 is not None
    assert drf_403.data["error"]["message"] == "Only marketers may do this."
    assert invalid is not None
    assert invalid.data["error"]["details"] == {"title": ["Too long."]}
    assert listed is not None
    assert listed.data["error"]["details"] == {"non_field_errors": ["Bad."]}
    assert app is not None
    assert app.data == errors.error_body("stale_sequence", "An older event.", {"sequence": 3})
    assert throttled is not None
    assert throttled["Retry-After"] == "7"


def test_api_exception_handler_leaves_unexpected_errors_to_the_500_handler():
    assert errors.api_exception_handler(RuntimeError("boom"), {}) is None


@pytest.mark.django_db
def test_a_csrf_failure_is_a_json_403():
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post("/admin/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
