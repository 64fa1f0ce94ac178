"""Production settings pass ``manage.py check --deploy`` (homeservice/settings.py).

Each case runs ``manage.py`` in a fresh process with a production environment: the settings
module is read once per process, so this is the only way to see what production would get.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Variables that would change what the production settings come out as.
TEST_ONLY = ("HOMESERVICE_TESTING", "DJANGO_SETTINGS_MODULE", "CELERY_TASK_ALWAYS_EAGER", "REDIS_KEY_PREFIX")


def production_env(var_dir: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TEST_ONLY and not k.startswith(("SECURE_", "DEBUG"))}
    env.pop("SECRET_KEY", None)
    env.update(
        {
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(60),
            "ALLOWED_HOSTS": "home.example.com",
            "DJANGO_SETTINGS_MODULE": "homeservice.settings",
            "VAR_DIR": str(var_dir),
        }
    )
    env.update(overrides)
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_settings_pass_check_deploy_without_warnings(tmp_path):
    # given a production environment
    env = production_env(tmp_path)
    assert len(env["SECRET_KEY"]) >= 50

    # when
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr
    # and no local secret key was generated: production uses the one it is given
    assert not (tmp_path / "secret_key").exists()


def test_check_deploy_does_report_an_unsafe_setting(tmp_path):
    # given production with DEBUG switched on (shows the check above can fail)
    env = production_env(tmp_path, DEBUG="true")

    # when
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    # then
    assert result.returncode != 0
    assert "security.W018" in result.stderr


@pytest.mark.parametrize("secret_key", [None, ""])
def test_without_a_secret_key_production_refuses_to_start_naming_it(tmp_path, secret_key):
    # given production without SECRET_KEY (unset or empty)
    env = production_env(tmp_path)
    if secret_key is None:
        del env["SECRET_KEY"]
    else:
        env["SECRET_KEY"] = secret_key

    # when
    result = manage("check", env=env)

    # then
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert not (tmp_path / "secret_key").exists()
