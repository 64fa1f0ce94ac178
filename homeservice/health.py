"""Liveness and readiness probes (plain Django views: no auth, no sessions)."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from .errors import error_body, json_require_safe


@json_require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and answering."""
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return f"error: {exc.__class__.__name__}: {exc}".strip()
    return "ok"


def _check_redis() -> str:
    import redis

    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return f"error: {exc.__class__.__name__}: {exc}".strip()
    return "ok"


@json_require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to serve: the database answers and, when configured, Redis answers; else 503."""
    checks = {"database": _check_database()}
    if settings.REDIS_URL:
        checks["redis"] = _check_redis()
    failing = sorted(name for name, result in checks.items() if result != "ok")
    if failing:
        return JsonResponse(
            error_body("not_ready", f"Not ready: {', '.join(failing)} unreachable.", checks), status=503
        )
    return JsonResponse({"status": "ready", "checks": checks})
