"""Nothing accepted is ever lost: a real server acknowledges a signed event and is killed with
SIGKILL right after the 200; the offer is in the database.

Embedded mode only (a SQLite file under the test's ``tmp_path``): one uvicorn process, no worker
needed, because events are applied and committed before the 200 (recommendations/ingestion.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from .harness import ROOT, free_port, http, launcher_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

SETUP = """
from django.contrib.auth.models import User
from products.models import Product
from products.webhooks import webhook_secret_create
User.objects.create_user("alice", password="pw-123456")
product = Product.objects.create(slug="mobile", name="Mobile")
print(webhook_secret_create(product=product)[1])
"""


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def signed_post(url: str, secret: str, body: bytes) -> int:
    at = datetime.now(tz=UTC)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": "msg-e2e",
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign("msg-e2e", at, body.decode()),
    }
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            response.read()
            status: int = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    return status


def test_an_acknowledged_event_survives_a_sigkill_right_after_the_200(tmp_path: Path) -> None:
    port = free_port()
    env = launcher_env(var_dir=tmp_path / "var", port=port, SEED_DEMO="false")
    manage(env, "migrate", "--noinput")
    secret = manage(env, "shell", "-c", SETUP).strip().splitlines()[-1]
    assert secret.startswith("whsec_")

    with (tmp_path / "uvicorn.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "homeservice.asgi:application", "--lifespan", "off", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError):
                if http("GET", f"http://127.0.0.1:{port}/healthz", timeout=2)[0] == 200:
                    break
            assert server.poll() is None, (tmp_path / "uvicorn.log").read_text()
            assert time.monotonic() < deadline, "uvicorn did not answer /healthz"
            time.sleep(0.2)

        event = {
            "specversion": "1.0",
            "id": "e2e-1",
            "source": "https://mobile.example.com",
            "type": "offer.upserted",
            "subject": "alice",
            "sequence": 1,
            "data": {"id": "kept", "title": "Survives a crash"},
        }
        status = signed_post(
            f"http://127.0.0.1:{port}/api/v1/products/mobile/events/", secret, json.dumps(event).encode()
        )
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        assert status == 200, (tmp_path / "uvicorn.log").read_text()
    finally:
        if server.poll() is None:
            os.kill(server.pid, signal.SIGKILL)
            server.wait(timeout=10)

    with contextlib.closing(sqlite3.connect(tmp_path / "var" / "homeservice.sqlite3")) as db:
        rows = db.execute(
            "SELECT o.title FROM recommendations_offer o JOIN auth_user u ON u.id = o.user_id "
            "WHERE u.username = 'alice' AND o.external_id = 'kept'"
        ).fetchall()
        received = db.execute("SELECT event_id FROM recommendations_receivedevent").fetchall()
    assert rows == [("Survives a crash",)]
    assert received == [("e2e-1",)]
