"""Redis goes away and comes back: the feed and the product events endpoint keep answering.

One real uvicorn process (embedded mode: a SQLite file under the test's ``tmp_path``) against a
redis-server of this test's own on a free loopback port, never the shared one. The test stops
that redis-server with SIGTERM and starts it again on the same port, without restarting the
application:

- before: the feed is served and fills L2 (keys with the test's prefix appear in its Redis);
- Redis down: the feed still answers 200 with the same sections (database and L1), ``/readyz``
  answers 503 naming redis, and a signed product event is still accepted and reaches the feed;
- Redis back: within a bounded wait ``/readyz`` is 200 again and feed requests use L2 again.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from .harness import ROOT, free_port, http, launcher_env, wait_until
from .redis_server import RedisServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

PREFIX = "hs-outage"
DEMO_PASSWORD = "demo1234"  # the public demo password seed_demo sets (README.md)
L2_LOOKUPS = re.compile(r'^homeservice_fragment_cache_lookups_total\{([^}]*layer="l2"[^}]*)\}\s+([0-9.e+]+)$', re.M)


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done


def signed_post(url: str, secret: str, body: bytes, msg_id: str) -> tuple[int, str]:
    at = datetime.now(tz=UTC)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body.decode()),
    }
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def l2_lookups(base_url: str) -> float:
    """The sum of the L2 hit and miss counters on ``/metrics`` (open with DEBUG)."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as response:  # noqa: S310 - loopback
        text = response.read().decode()
    return sum(float(value) for _, value in L2_LOOKUPS.findall(text))


def section_ids(feed: dict[str, Any]) -> list[Any]:
    return [section.get("id") for section in feed["sections"]]


def test_the_feed_and_product_events_survive_a_redis_outage(redis_server: RedisServer, tmp_path: Path) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = launcher_env(
        var_dir=tmp_path / "var",
        port=port,
        SEED_DEMO="false",
        REDIS_URL=f"redis://127.0.0.1:{redis_server.port}/0",
        REDIS_KEY_PREFIX=PREFIX,
    )
    env.pop("DATABASE_URL", None)
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo")
    rotated = manage(env, "webhook_secret", "mobile", "--rotate")
    # The secret is the only line on stdout (the explanation goes to stderr).
    secret = rotated.stdout.strip().splitlines()[-1].strip()
    assert secret.startswith("whsec_"), rotated.stdout

    log_path = tmp_path / "uvicorn.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "homeservice.asgi:application"),
                *("--host", "127.0.0.1", "--port", str(port), "--lifespan", "off"),
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def server_log() -> str:
        return log_path.read_text(errors="replace")[-6000:]

    try:

        def healthy() -> bool:
            assert server.poll() is None, server_log()
            with contextlib.suppress(OSError):
                return http("GET", f"{base_url}/healthz", timeout=2)[0] == 200
            return False

        wait_until(healthy, timeout=60, what="uvicorn answering /healthz")

        status, _, body = http(
            "POST", f"{base_url}/api/v1/auth/token/", body={"username": "alice", "password": DEMO_PASSWORD}
        )
        assert status == 200, body
        token = body["access"]

        # Before the outage: served, and through L2.
        status, _, before = http("GET", f"{base_url}/api/v1/home/", token=token)
        assert status == 200, server_log()
        assert before["sections"], before
        sections_before = section_ids(before)
        assert redis_server.keys(f"{PREFIX}*"), "no hs-outage keys in the test's Redis after a feed request"
        assert l2_lookups(base_url) > 0
        status, _, ready = http("GET", f"{base_url}/readyz")
        assert status == 200, ready

        # The outage.
        redis_server.stop()

        status, _, during = http("GET", f"{base_url}/api/v1/home/", token=token, timeout=20)
        assert status == 200, server_log()
        assert section_ids(during) == sections_before

        status, _, not_ready = http("GET", f"{base_url}/readyz", timeout=20)
        assert status == 503, not_ready
        assert "redis" in json.dumps(not_ready), not_ready

        event = {
            "specversion": "1.0",
            "id": "outage-1",
            "source": "https://mobile.example.com",
            "type": "offer.upserted",
            "subject": "alice",
            "sequence": 1_000_000,
            "data": {
                "id": "outage-offer",
                "title": "Taken while Redis was down",
                "body": "Accepted without Redis",
                "priority": 100,
            },
        }
        status, answer = signed_post(
            f"{base_url}/api/v1/products/mobile/events/", secret, json.dumps(event).encode(), "msg-outage-1"
        )
        assert 200 <= status < 300, f"{status} {answer}\n{server_log()}"

        status, _, with_offer = http("GET", f"{base_url}/api/v1/home/", token=token, timeout=20)
        assert status == 200, server_log()
        assert "Taken while Redis was down" in json.dumps(with_offer), with_offer

        # Redis back on the same port (empty: no persistence); the application is not restarted.
        redis_server.start()
        assert not redis_server.keys(f"{PREFIX}*")

        def ready_again() -> bool:
            return http("GET", f"{base_url}/readyz", timeout=10)[0] == 200

        wait_until(ready_again, timeout=30, what="/readyz answering 200 after Redis came back", interval=0.5)

        lookups = l2_lookups(base_url)

        def l2_used_again() -> bool:
            status, _, feed = http("GET", f"{base_url}/api/v1/home/", token=token, timeout=10)
            assert status == 200, server_log()
            assert "Taken while Redis was down" in json.dumps(feed)
            return bool(redis_server.keys(f"{PREFIX}*")) and l2_lookups(base_url) > lookups

        # L1 keeps fragments FRAGMENT_L1_TTL_SECONDS (10 s by default); then L2 is read and filled.
        wait_until(l2_used_again, timeout=45, what="feed requests using L2 again", interval=1)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(server.pid, signal.SIGKILL)
                server.wait(timeout=10)
