"""One error vocabulary for the whole API.

Every error leaves the service as ``{"error": {"code", "message", "details"}}``: DRF errors through
:func:`api_exception_handler`, Django's own 400/403/404/500 through the ``handler*`` views, and
application errors raised by services as :class:`ApplicationError`. WebSocket ``error`` messages
use the same codes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ApplicationError(Exception):
    """An error a service raises on purpose, with a machine-readable ``code``."""

    status_code: int = status.HTTP_400_BAD_REQUEST

    def __init__(self, code: str, message: str, *, details: Any = None, status_code: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details if details is not None else {}
        if status_code is not None:
            self.status_code = status_code


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details if details is not None else {}}}


_DEFAULT_CODES = {
    status.HTTP_400_BAD_REQUEST: "invalid",
    status.HTTP_401_UNAUTHORIZED: "not_authenticated",
    status.HTTP_403_FORBIDDEN: "permission_denied",
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    status.HTTP_406_NOT_ACCEPTABLE: "not_acceptable",
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: "unsupported_media_type",
    status.HTTP_429_TOO_MANY_REQUESTS: "throttled",
}


def _code_of(exc: exceptions.APIException) -> str:
    detail = exc.detail
    if isinstance(detail, dict):
        # simplejwt puts its own code in the body ("token_not_valid"); keep it.
        code = detail.get("code")
        if code:
            return str(code)
    elif isinstance(detail, exceptions.ErrorDetail) and detail.code:
        return str(detail.code)
    return _DEFAULT_CODES.get(exc.status_code, exc.default_code or "error")


def _message_of(exc: exceptions.APIException) -> str:
    detail = exc.detail
    if isinstance(detail, dict) and "detail" in detail:
        return str(detail["detail"])
    if isinstance(detail, str):
        return str(detail)
    if isinstance(exc, exceptions.ValidationError):
        return "The request is invalid; see details for each field."
    return str(exc.default_detail)


def _details_of(exc: exceptions.APIException) -> Any:
    wait = getattr(exc, "wait", None)
    if isinstance(exc, exceptions.Throttled) and wait is not None:
        return {"retry_after": int(wait)}  # as the Retry-After header DRF adds
    if isinstance(exc, exceptions.ValidationError):
        return exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
    if isinstance(exc.detail, dict):
        return {k: v for k, v in exc.detail.items() if k not in ("detail", "code")}
    return {}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: map every error to the ``{"error": ...}`` body."""
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code)
    # Django's own Http404 / PermissionDenied (get_object_or_404, ...): map them as DRF does, so
    # they get the error body below too.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    response.data = api_error_body(exc)
    return response


def api_error_body(exc: exceptions.APIException) -> dict[str, Any]:
    """The error body of a DRF exception (also for answers made outside DRF, as the fast paths')."""
    return error_body(_code_of(exc), _message_of(exc), _details_of(exc))


# Django-level handlers (URLs outside DRF views), wired in homeservice/urls.py.
def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("bad_request", "The request could not be understood."), status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("permission_denied", "You may not do this."), status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(
        error_body("not_found", f"Nothing is served at {request.path}.", {"path": request.path}), status=404
    )


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("server_error", "An unexpected error occurred."), status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> JsonResponse:
    """``CSRF_FAILURE_VIEW``: a JSON 403 instead of Django's HTML page."""
    return JsonResponse(
        error_body("csrf_failed", f"CSRF verification failed: {reason}", {"reason": reason}), status=403
    )


def json_require_safe(view: Callable[..., Any]) -> Callable[..., Any]:
    """Like Django's ``require_safe`` (GET and HEAD), answering other methods with a JSON 405."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if request.method not in ("GET", "HEAD"):
            response = JsonResponse(
                error_body("method_not_allowed", f"Method {request.method} is not allowed here."), status=405
            )
            response["Allow"] = "GET, HEAD"
            return response
        return view(request, *args, **kwargs)

    return wrapper
