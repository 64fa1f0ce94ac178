"""``GET /metrics``: Prometheus exposition of this process's metrics (prometheus_client).

Among them ``homeservice_template_render_failures_total`` (ui_templates/rendering.py): sections
whose template failed and fell back to the built-in one, by slot, template and version.

Access (metrics name templates and reveal traffic, so they are not public):

- with ``DEBUG`` on;
- from a loopback address, when the request was not forwarded by a proxy (none of the headers
  proxies set: ``PROXY_HEADERS``, ``Forwarded``, ``X-Forwarded-For`` and ``X-Real-IP`` among
  them): behind a reverse proxy on the same host every request comes from loopback, so forwarded
  requests must use the token;
- with ``Authorization: Bearer <METRICS_TOKEN>`` when ``METRICS_TOKEN`` is set.

Anything else is a JSON 403. The figures are per process: with several server processes, scrape
each (prometheus_client's multiprocess mode is not set up).
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

# Imported for its side effect: the render-failure counter is registered, so it is exposed even
# before this process renders its first feed.
from ui_templates import rendering  # noqa: F401

from .errors import error_body, json_require_safe


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _has_token(request: HttpRequest) -> bool:
    token = str(getattr(settings, "METRICS_TOKEN", "") or "")
    if not token:
        return False
    kind, _, given = request.headers.get("Authorization", "").partition(" ")
    return kind.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


# Headers a reverse proxy sets for the client it forwards (any one marks a request as proxied).
PROXY_HEADERS = (
    "Forwarded",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Forwarded-Proto",
    "X-Real-IP",
    "X-Client-IP",
    "True-Client-IP",
    "CF-Connecting-IP",
)


def metrics_allowed(request: HttpRequest) -> bool:
    """DEBUG, a direct loopback request, or the metrics token (module docstring)."""
    if settings.DEBUG or _has_token(request):
        return True
    forwarded = any(name in request.headers for name in PROXY_HEADERS)
    return not forwarded and _is_loopback(request.META.get("REMOTE_ADDR", ""))


@json_require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        return JsonResponse(
            error_body(
                "permission_denied",
                "Metrics are served to loopback clients, or with Authorization: Bearer <METRICS_TOKEN>.",
            ),
            status=403,
        )
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
