"""docker-compose.yml cannot be run here (no Docker engine), so check what it would run."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
APP_SERVICES = ["migrate", "web", "worker", "beat"]


def test_the_full_stack_is_described():
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(SERVICES)


@pytest.mark.parametrize("name", ["postgres", "redis", "web", "worker", "beat"])
def test_every_long_running_service_has_a_health_check(name):
    assert SERVICES[name]["healthcheck"]["test"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_use_postgres_and_redis_and_wait_for_them(name):
    service = SERVICES[name]
    env = service["environment"]
    assert env["DATABASE_URL"].startswith("postgres://")
    assert "@postgres:5432/" in env["DATABASE_URL"]
    assert env["REDIS_URL"].startswith("redis://redis:6379")
    assert service["depends_on"]["redis"]["condition"] == "service_healthy"


def _resolve(command: list[str]) -> None:
    """Fail unless the command names something that exists in this project."""
    assert command[:2] == ["python", "-m"] or command[:2] == ["python", "manage.py"], command
    if command[1] == "manage.py":
        assert command[2] in get_commands(), f"no management command {command[2]!r}"
        return
    module = command[2]
    assert importlib.util.find_spec(module) is not None, f"module {module!r} is not installed"
    if module == "uvicorn":
        target = next(arg for arg in command[3:] if ":" in arg)
        module_name, attribute = target.split(":")
        assert callable(getattr(importlib.import_module(module_name), attribute))
    elif module == "celery":
        app_module = command[command.index("-A") + 1]
        assert importlib.import_module(app_module).celery_app.main == "homeservice"
        assert command[command.index("-A") + 2] in {"worker", "beat"}


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_commands_exist_in_the_project(name):
    _resolve(SERVICES[name]["command"])


def test_web_waits_for_migrations_and_checks_readiness():
    web = SERVICES["web"]
    assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "/readyz" in " ".join(web["healthcheck"]["test"])


def test_the_image_copies_what_exists():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (.+?) \S+$", dockerfile, flags=re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), f"Dockerfile copies missing {path}"
