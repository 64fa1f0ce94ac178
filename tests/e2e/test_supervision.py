"""``make run`` supervises: the service comes through a killed worker and a Redis outage.

The launcher runs as ``make run`` starts it (harness: tests/e2e/harness.py, conftest.py). After
each fault the service must still do its three jobs, with the launcher never restarted:

- the feed answers;
- a signed product event (webhook) is accepted and reaches a real WebSocket as a live update;
- a changed deal is polled by the worker (beat ticks every second here) and reaches a real
  WebSocket too, so the worker consumes tasks again.

The Redis outage runs in full-stack mode against a redis-server of the test's own (stopped for
10 s, then started again empty on the same port; never the shared one), with a PostgreSQL
database of its own when DATABASE_URL is set (else a SQLite file). The worker must come through
it by itself: no process is restarted. The worker used to crash only when the connection broke
while it held a late-acknowledged task and was still waiting for more (BRPOP pending: fewer
tasks held than its prefetch limit). To have that every time, the worker runs three pool
processes, the test pauses them (SIGSTOP) and stops Redis as soon as the worker holds a task
for them (beat sends one a second), and resumes them (SIGCONT) before Redis comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from .conftest import _full_stack_services
from .harness import ROOT, Launcher, Proc, free_port, http, launcher_env, wait_gone, wait_until
from .redis_server import RedisServer
from .test_live_instances import offer_request, post_signed
from .test_stack import live_deal_scenario, token_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(360)]

OUTAGE_SECONDS = 10
WAIT = 60.0  # upper bound for a broken run; nothing is timed
WORKER_READY = re.compile(r"celery@\S+ ready\.")
WORKER_CONNECTED = re.compile(r"INFO/MainProcess\] Connected to ")
TASK_RECEIVED = re.compile(r"\] Task [\w.]+\[([0-9a-f-]+)\] received")
TASK_DONE = re.compile(
    r"\] (?:Task [\w.]+\[([0-9a-f-]+)\] (?:succeeded|raised|retry|failed)|Discarding \w+ task: [\w.]+\[([0-9a-f-]+)\])"
)


def webhook_secret(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", "webhook_secret", "mobile", "--rotate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    secret = done.stdout.strip().splitlines()[-1].strip()
    assert secret.startswith("whsec_"), done.stdout
    return secret


def children_by_role(stack: Launcher) -> dict[str, Proc]:
    roles: dict[str, Proc] = {}
    for proc in stack.children():
        if "uvicorn" in proc.cmdline:
            roles["server"] = proc
        elif " worker " in f"{proc.cmdline} ":
            roles["worker"] = proc
        elif " beat " in f"{proc.cmdline} ":
            roles["beat"] = proc
    return roles


def group_members(pgid: int) -> list[Proc]:
    """Every process in the process group ``pgid`` (the worker and its pool)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and (proc := Proc.read(int(stat.parent.name))) is not None:
            members.append(proc)
    return members


def tasks_in_flight(log: str) -> set[str]:
    """Ids of the tasks the worker received and has not finished (so not acknowledged either)."""
    done = {first or second for first, second in TASK_DONE.findall(log)}
    return set(TASK_RECEIVED.findall(log)) - done


def assert_the_service_works(stack: Launcher, secret: str) -> None:
    """The feed, a signed webhook reaching a live socket, and a deal the worker polls."""
    alice = token_for(stack, "alice")
    status, _, feed = http("GET", f"{stack.base_url}/api/v1/home/", token=alice, timeout=20)
    assert status == 200, feed
    assert feed["sections"], feed

    title = f"After the fault {uuid.uuid4().hex[:8]}"

    async def webhook_scenario() -> dict[str, Any]:
        async with connect(stack.ws_url, additional_headers={"Authorization": f"Bearer {alice}"}) as ws:
            snapshot = json.loads(await asyncio.wait_for(ws.recv(), timeout=WAIT))
            assert snapshot["type"] == "feed.snapshot"
            body, headers = offer_request(secret, user="alice", title=title)
            status = await asyncio.to_thread(
                post_signed, f"{stack.base_url}/api/v1/products/mobile/events/", body, headers
            )
            assert status in (200, 202), status
            deadline = time.monotonic() + WAIT
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"no live update showing {title!r} within {WAIT} s")
                message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout=remaining))
                if message["type"] == "feed.updated" and title in json.dumps(message["sections"]):
                    return message

    update = asyncio.run(webhook_scenario())
    status, _, feed = http("GET", f"{stack.base_url}/api/v1/home/", token=alice, timeout=20)
    assert status == 200
    assert title in json.dumps(feed["sections"])
    assert feed["version"] == update["version"] or title in json.dumps(feed)

    # carol has no offers: her mobile section shows the deals the worker polls.
    asyncio.run(live_deal_scenario(stack, token_for(stack, "carol")))


def test_a_killed_worker_is_started_again_and_the_rest_keeps_running(launcher: Launcher, mode: str) -> None:
    launcher.wait_for_log(WORKER_READY.pattern, timeout=WAIT)
    before = children_by_role(launcher)
    worker = before["worker"]
    pool = [proc for proc in group_members(worker.pid) if proc.pid != worker.pid]
    assert pool, "the worker's pool processes share its process group"

    os.kill(worker.pid, signal.SIGKILL)

    launcher.wait_for_log(
        rf"worker \(pid {worker.pid}\) was killed by SIGKILL after \d+ s; starting it again in 1 s", timeout=WAIT
    )
    launcher.wait_for_log(r"worker started again \(pid \d+, start 2\)", timeout=WAIT)
    wait_until(
        lambda: len(WORKER_READY.findall(launcher.log())) >= 2, timeout=WAIT, what="the new worker ready", interval=0.5
    )
    after = children_by_role(launcher)
    assert after["worker"].pid != worker.pid
    assert not worker.running()
    assert not wait_gone(pool), "the killed worker's pool was left running"
    # The others were not touched.
    assert after["server"] == before["server"]
    assert after.get("beat") == before.get("beat")
    assert launcher.process is not None
    assert launcher.process.poll() is None

    assert_the_service_works(launcher, webhook_secret(launcher.env))
    assert children_by_role(launcher) == after


@pytest.fixture
def outage_stack(redis_server: RedisServer, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Launcher]:
    """The launcher in full-stack mode against ``redis_server``; ready."""
    extra = {"REDIS_URL": redis_server.url, "REDIS_KEY_PREFIX": "hs-supervision", "CELERY_CONCURRENCY": "3"}
    if _full_stack_services() is not None:
        extra["DATABASE_URL"] = request.getfixturevalue("postgres_database")
    env = launcher_env(var_dir=tmp_path / "var", port=free_port(), **extra)
    stack = Launcher(env=env, log_path=tmp_path / "launcher.log")
    request.node.launchers = [*getattr(request.node, "launchers", []), stack]
    stack.start()
    try:
        stack.wait_ready()
        yield stack
    finally:
        if stack.stop() is None or wait_gone(stack.seen):
            stack.kill()


def test_the_stack_comes_through_a_redis_outage_without_a_restart(
    outage_stack: Launcher, redis_server: RedisServer
) -> None:
    stack = outage_stack
    assert "full-stack mode" in stack.log()
    stack.wait_for_log(WORKER_READY.pattern, timeout=WAIT)
    stack.wait_for_log(r"beat: Starting", timeout=WAIT)
    before = children_by_role(stack)
    assert set(before) == {"server", "worker", "beat"}
    connected = len(WORKER_CONNECTED.findall(stack.log()))
    pool = [proc for proc in group_members(before["worker"].pid) if proc.pid != before["worker"].pid]
    assert pool

    # Past the startup burst (the demo's first polls and feed warm-ups): nothing held.
    wait_until(lambda: not tasks_in_flight(stack.log()), timeout=WAIT, what="the worker idle", interval=0.1)
    for proc in pool:
        os.kill(proc.pid, signal.SIGSTOP)
    try:
        # Beat sends a task a second; with its pool paused the worker holds it unacknowledged.
        wait_until(
            lambda: bool(tasks_in_flight(stack.log())),
            timeout=WAIT,
            what="the worker holding a task for its paused pool",
            interval=0.05,
        )
        redis_server.stop()
        time.sleep(OUTAGE_SECONDS)  # the outage the scenario asks for, not a timing
    finally:
        for proc in pool:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
    redis_server.start()

    def ready() -> bool:
        return http("GET", f"{stack.base_url}/readyz", timeout=10)[0] == 200

    wait_until(ready, timeout=WAIT, what="/readyz answering 200 after Redis came back", interval=0.5)
    wait_until(
        lambda: len(WORKER_CONNECTED.findall(stack.log())) > connected,
        timeout=WAIT,
        what="the worker reconnecting to the broker",
        interval=0.5,
    )
    assert_the_service_works(stack, webhook_secret(stack.env))

    # Nothing was restarted: the worker came through by itself.
    assert children_by_role(stack) == before
    assert "starting it again" not in stack.log()
    assert "has no attribute 'hostname'" not in stack.log()
    assert stack.process is not None
    assert stack.process.poll() is None
