"""docker-compose.yml cannot be run here (no Docker engine), so check what it would run."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
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


def _interpolate(value: str, environment: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` against ``environment``."""

    def one(match: re.Match[str]) -> str:
        name, operator, operand = match.group(1), match.group(2), match.group(3)
        if environment.get(name):
            return environment[name]
        assert operator != ":?", f"compose would refuse to start without {name}: {operand}"
        return operand or ""

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


def _app_settings(environment: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    """The settings the app services get from compose's environment with ``environment`` in the shell."""
    compose_env = {key: _interpolate(str(value), environment) for key, value in SERVICES["web"]["environment"].items()}
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "homeservice.settings",
        "VAR_DIR": str(tmp_path),
        **compose_env,
    }
    names = ["SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_REDIRECT_EXEMPT", "DEBUG"]
    script = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}))"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


SHELL = {"SECRET_KEY": "s" * 60}


def test_compose_defaults_to_https_only(tmp_path):
    settings = _app_settings(SHELL, tmp_path)

    assert settings["DEBUG"] is False
    assert settings["SECURE_SSL_REDIRECT"] is True
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["CSRF_COOKIE_SECURE"] is True
    # The web service's health check calls http://127.0.0.1:8000/readyz: it is not redirected.
    assert any(re.search(pattern, "readyz") for pattern in settings["SECURE_REDIRECT_EXEMPT"])
    assert "/readyz" in " ".join(SERVICES["web"]["healthcheck"]["test"])


def test_plain_http_is_one_variable_away(tmp_path):
    settings = _app_settings({**SHELL, "HTTPS_ONLY": "false"}, tmp_path)

    assert settings["SECURE_SSL_REDIRECT"] is False
    assert settings["SESSION_COOKIE_SECURE"] is False
    assert settings["CSRF_COOKIE_SECURE"] is False


def _option(command: list[str], name: str) -> str:
    assert name in command, command
    return command[command.index(name) + 1]


def test_every_server_command_caps_websocket_messages():
    from homeservice.launcher import WS_MAX_SIZE, server_command

    cmd = re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE)
    assert cmd, "the Dockerfile has no CMD in JSON form"
    commands = {
        "make run": server_command(host="127.0.0.1", port="8000", access_log=True),
        "compose web": SERVICES["web"]["command"],
        "image": json.loads(cmd.group(1)),
    }
    for where, command in commands.items():
        assert "uvicorn" in command, where
        assert _option(command, "--ws-max-size") == str(WS_MAX_SIZE) == "65536", where


def test_the_web_service_loads_the_application_that_redacts_tickets():
    import logging

    from homeservice.access_log import SERVER_LOGGERS, TicketRedaction

    target = next(arg for arg in SERVICES["web"]["command"] if ":" in arg)
    assert target == "homeservice.asgi:application"
    importlib.import_module("homeservice.asgi")
    for name in SERVER_LOGGERS:
        assert any(isinstance(f, TicketRedaction) for f in logging.getLogger(name).filters)
