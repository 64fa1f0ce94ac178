"""WebSocket live updates under load: ``.venv/bin/python -m bench.ws`` (also run by ``make bench``).

For each N in BENCH_WS_SIZES (default 1,000 and 5,000), against PostgreSQL (a database of its
own, recreated) and Redis (keys under ``hs-bench-ws:``, deleted before and after):

1. starts one uvicorn server process with the project (production-like settings), pinned to the
   first CPU (``taskset -c <cpu0>``); this process, the load generator, pins itself to the second;
2. opens N WebSockets to ``/ws/home/``, each authenticated with its own user's Bearer token, and
   waits for every snapshot; the server's RSS before and after gives the memory per connection;
3. pushes personal offers to connected users through signed webhooks (Standard Webhooks,
   ``offer.upserted``) at BENCH_WS_PUSH_RATE events per second (default 200) for
   BENCH_WS_PUSH_SECONDS (default 15), in requests of BENCH_WS_PUSH_BATCH events (default 10):
   latency is from the webhook's ``accepted_at`` (when the server committed the batch) to the
   frame showing the offer at the client, and from the request's sending. Two phases: first the
   webhooks go to the socket process itself, then to a second server process of the project (the
   "ingest server", pinned to the load generator's CPU), as behind a load balancer, so the socket
   process only delivers. Before them, BENCH_WS_WARMUP_SECONDS (default 5) of the same pushes to
   the socket process, not measured;
4. refreshes one product's generic deals BENCH_WS_BROADCASTS times (default 3) — a process of
   its own records new deals as the deals poller does (bench/ws_django.py) — and measures the
   time until the last of the N clients has the new section;
5. counts what was dropped: pushes accepted but never shown, broadcasts not received, sockets
   closed by the server; stops the server by PID.

Every wait is bounded, the whole run by BENCH_WS_MAX_SECONDS (default 1,200); it talks only to
127.0.0.1 and writes its figures into docs/benchmarks.md between ``<!-- ws-bench:start -->`` and
``<!-- ws-bench:end -->`` (unless BENCH_UPDATE_DOCS=false) and into bench/results/ws-<time>/.

Environment: BENCH_WS_DATABASE_URL (default ``postgres://postgres@127.0.0.1:5432/hs_bench_ws``;
its name must contain ``bench``), BENCH_REDIS_URL, BENCH_WS_SIZES, BENCH_WS_PUSH_RATE,
BENCH_WS_PUSH_SECONDS, BENCH_WS_PUSH_BATCH, BENCH_WS_WARMUP_SECONDS, BENCH_WS_BROADCASTS, BENCH_WS_MAX_SECONDS,
BENCH_UPDATE_DOCS.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import json
import os
import platform
import random
import re
import resource
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from . import services
from .run import cpu_plan, display_python, free_port, log_tail, manage_output, run_step, say

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
START_MARK = "<!-- ws-bench:start -->"
END_MARK = "<!-- ws-bench:end -->"
KEY_PREFIX = "hs-bench-ws"
PUSH_PRODUCT = "mobile"
BROADCAST_PRODUCT = "tv"
CONNECT_CONCURRENCY = 50
PING_EVERY_S = 60.0  # each client sends an application ping this often (the idle timeout is 120 s)
WAIT_S = 15.0  # how long to wait for the last broadcast delivery before counting it as dropped
# How long to wait for pushes still queued in the server when sending stops: each push counts as
# dropped only if it never arrives, and the broadcasts are measured on a server that has caught up.
PUSH_DRAIN_S = 180.0
IDLE_WAIT_S = 120.0  # how long to wait for the server to go idle before the broadcasts

# Targets (issue 5), at the largest N.
TARGET_CONNECTIONS = 5000
TARGET_PUSH_P99_MS = 100.0
TARGET_BROADCAST_S = 1.0
# Who received the webhooks of a push phase (bench/ws.py ``measure``).
RECEIVERS = {
    "same": "the socket process",
    "separate": "another server process (as behind a load balancer)",
}


BenchError = services.BenchError


@dataclass(frozen=True)
class Config:
    database_url: str
    redis_url: str
    sizes: list[int]
    push_rate: int
    push_seconds: int
    push_batch: int
    warmup_seconds: int
    broadcasts: int
    max_seconds: int
    update_docs: bool

    @classmethod
    def from_env(cls) -> Config:
        sizes_raw = os.environ.get("BENCH_WS_SIZES", "") or "1000,5000"
        try:
            sizes = [int(part) for part in sizes_raw.split(",") if part.strip()]
        except ValueError as exc:
            raise BenchError(f"BENCH_WS_SIZES must be comma-separated whole numbers, got {sizes_raw!r}") from exc
        return cls(
            database_url=os.environ.get("BENCH_WS_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/hs_bench_ws",
            redis_url=os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/0",
            sizes=sizes,
            push_rate=services.env_integer("BENCH_WS_PUSH_RATE", 200),
            push_seconds=services.env_integer("BENCH_WS_PUSH_SECONDS", 15),
            push_batch=services.env_integer("BENCH_WS_PUSH_BATCH", 10),
            warmup_seconds=services.env_integer("BENCH_WS_WARMUP_SECONDS", 5),
            broadcasts=services.env_integer("BENCH_WS_BROADCASTS", 3),
            max_seconds=services.env_integer("BENCH_WS_MAX_SECONDS", 1200),
            update_docs=services.env_update_docs(),
        )


# --- The server -----------------------------------------------------------------------------------


class WsServer:
    """One uvicorn process pinned to a CPU; stopped by its PID."""

    def __init__(self, *, python: str, cpu: int | None, env: dict[str, str], log: Path, name: str = "server") -> None:
        self.name = name
        self.port = free_port()
        pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
        self.command = [
            *pin,
            *(python, "-m", "uvicorn", "homeservice.asgi:application", "--host", "127.0.0.1", "--port", str(self.port)),
            *("--lifespan", "off", "--no-access-log", "--log-level", "warning"),
        ]
        self.log = log
        with log.open("wb") as out:
            # taskset execs the interpreter, so this PID is uvicorn's.
            self.process = subprocess.Popen(self.command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        say(f"{self.name}: started PID {self.process.pid}: {shlex.join(self.command)}")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"the server exited with {self.process.returncode}:\n{log_tail(self.log)}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise BenchError(f"the server was not ready within {timeout_s:.0f} s:\n{log_tail(self.log)}")

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise BenchError("no VmRSS for the server")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            say(f"{self.name}: stopped PID {self.process.pid}")


# --- The clients ----------------------------------------------------------------------------------

PUSH_MARK = re.compile(r"wsbp(\d+)x")
BROADCAST_MARK = re.compile(r"wsbc(\d+)x")


@dataclass
class Client:
    username: str
    token: str
    ws: ClientConnection | None = None
    broadcasts: dict[int, float] = field(default_factory=dict)  # round -> when received
    pushes: list[tuple[int, float]] = field(default_factory=list)  # (push number shown, when received)
    closed_code: int | None = None
    closed_unexpectedly: bool = False


@dataclass
class Load:
    clients: list[Client]
    push_user: dict[int, str] = field(default_factory=dict)  # push number -> username
    push_accepted: dict[int, float] = field(default_factory=dict)
    push_sent: dict[int, float] = field(default_factory=dict)
    push_errors: int = 0
    closing: bool = False

    async def read(self, client: Client) -> None:
        assert client.ws is not None
        try:
            async for text in client.ws:
                now = time.time()
                if not isinstance(text, str) or not text.startswith('{"type":"feed.updated"'):
                    continue
                for match in PUSH_MARK.finditer(text):
                    client.pushes.append((int(match.group(1)), now))
                for match in BROADCAST_MARK.finditer(text):
                    client.broadcasts.setdefault(int(match.group(1)), now)
        except ConnectionClosed as closed:
            client.closed_code = closed.rcvd.code if closed.rcvd is not None else None
        if not self.closing:
            client.closed_unexpectedly = True

    async def ping_all(self) -> None:
        """An application ping per client every PING_EVERY_S: each second the next slice of the
        clients, on an absolute schedule (a late second does not push the next ones back)."""
        per_second = max(1, -(-len(self.clients) // int(PING_EVERY_S)))
        next_at, index = time.monotonic(), 0
        while not self.closing:
            for client in self.clients[index : index + per_second]:
                if client.ws is not None and not client.closed_unexpectedly:
                    with contextlib.suppress(ConnectionClosed):
                        await client.ws.send('{"type":"ping"}')
            index = (index + per_second) % max(1, len(self.clients))
            next_at += 1.0
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def open_client(client: Client, url: str, load: Load, tasks: list[asyncio.Task[None]]) -> bool:
    try:
        ws = await connect(
            url,
            additional_headers={"Authorization": f"Bearer {client.token}"},
            compression=None,
            ping_interval=None,  # the server pings (uvicorn, every 20 s); clients answer
            max_size=2**22,
            open_timeout=60,
        )
        first = json.loads(await asyncio.wait_for(ws.recv(), timeout=60))
    except (OSError, TimeoutError, ConnectionClosed, json.JSONDecodeError) as exc:
        say(f"connect {client.username}: {exc.__class__.__name__}: {exc}")
        return False
    if first.get("type") != "feed.snapshot":
        await ws.close()
        return False
    client.ws = ws
    tasks.append(asyncio.create_task(load.read(client)))
    return True


def offer_event(*, username: str, number: int, sequence: int, now: datetime) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"wsb-{uuid.uuid4().hex}",
        "source": f"https://{PUSH_PRODUCT}.bench.example.com",
        "type": "offer.upserted",
        "time": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "subject": username,
        "sequence": sequence,
        "data": {
            "id": "wsb-offer",
            "title": f"wsbp{number}x Upgrade",
            "body": "An upgrade just for you",
            "price": {"amount": "19.99", "currency": "EUR", "period": "month"},
            "cta_label": "See offer",
            "cta_url": "https://example.com/upgrade",
            "priority": 10,
            "expires_at": (now + timedelta(hours=2)).isoformat(timespec="seconds").replace("+00:00", "Z"),
        },
    }


async def push_offers(
    load: Load, *, base_url: str, secret: str, config: Config, usernames: list[str], first_number: int
) -> list[int]:
    """Signed webhooks at a steady rate: ``push_batch`` events per request, requests on a fixed
    schedule (a slow answer never lowers the rate); the push numbers it used."""
    signer = Webhook(secret)
    order = usernames[:]
    random.Random(7).shuffle(order)  # round-robin over the users: each user's pushes far apart
    interval = config.push_batch / config.push_rate
    requests = (config.push_rate * config.push_seconds) // config.push_batch
    sequence_base = int(time.time() * 1000)
    number = first_number
    in_flight: list[asyncio.Task[None]] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=httpx.Limits(max_connections=16)) as http:

        async def post(numbers: list[int], body: bytes, headers: dict[str, str]) -> None:
            sent = time.time()
            for k in numbers:
                load.push_sent[k] = sent
            try:
                response = await http.post(f"/api/v1/products/{PUSH_PRODUCT}/events/", content=body, headers=headers)
            except httpx.HTTPError as exc:
                say(f"webhook: {exc.__class__.__name__}: {exc}")
                load.push_errors += len(numbers)
                return
            if response.status_code // 100 != 2:
                say(f"webhook: HTTP {response.status_code}: {response.text[:200]}")
                load.push_errors += len(numbers)
                return
            # When the server committed the batch (its ``accepted_at``; same machine, same clock):
            # the users' screens are told after that, usually before this answer arrives.
            accepted = datetime.fromisoformat(response.json()["accepted_at"]).timestamp()
            for k in numbers:
                load.push_accepted[k] = accepted

        started = time.monotonic()
        for request in range(requests):
            now = datetime.now(tz=UTC)
            events, numbers = [], []
            for _ in range(config.push_batch):
                username = order[number % len(order)]
                events.append(offer_event(username=username, number=number, sequence=sequence_base + number, now=now))
                load.push_user[number] = username
                numbers.append(number)
                number += 1
            body = json.dumps(events if len(events) > 1 else events[0], separators=(",", ":")).encode()
            msg_id = f"msg-wsb-{uuid.uuid4().hex}"
            headers = {
                "Content-Type": "application/cloudevents-batch+json" if len(events) > 1 else "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signer.sign(msg_id, now, body.decode()),
            }
            delay = started + request * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            in_flight.append(asyncio.create_task(post(numbers, body, headers)))
        await asyncio.gather(*in_flight)
    return list(range(first_number, number))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def wait_idle(server: WsServer, timeout_s: float) -> bool:
    """Wait until the server uses under 10% of a CPU over one second."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        before = server.cpu_seconds()
        await asyncio.sleep(1.0)
        if server.cpu_seconds() - before < 0.1:
            return True
    return False


async def wait_until(predicate: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return bool(predicate())


async def measure(
    *,
    n: int,
    server: WsServer,
    ingest: WsServer | None,
    users: list[list[str]],
    secret: str,
    config: Config,
    django_env: dict[str, str],
    python: str,
) -> dict[str, Any]:
    url = f"ws://127.0.0.1:{server.port}/ws/home/"
    result: dict[str, Any] = {"n": n}

    # Warm-up: a few connections open and close (imports, caches), then the baseline RSS.
    warm = Load(clients=[Client(username=u, token=t) for u, t in users[:10]])
    warm_tasks: list[asyncio.Task[None]] = []
    for client in warm.clients:
        await open_client(client, url, warm, warm_tasks)
    warm.closing = True
    for client in warm.clients:
        if client.ws is not None:
            await client.ws.close()
    await asyncio.gather(*warm_tasks, return_exceptions=True)
    await asyncio.sleep(2)
    rss_before = server.rss_bytes()

    # Connect N.
    load = Load(clients=[Client(username=u, token=t) for u, t in users[:n]])
    tasks: list[asyncio.Task[None]] = []
    semaphore = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(client: Client) -> bool:
        async with semaphore:
            return await open_client(client, url, load, tasks)

    started = time.monotonic()
    opened = await asyncio.gather(*(one(client) for client in load.clients))
    result["connect_s"] = time.monotonic() - started
    result["connected"] = sum(opened)
    result["connect_failed"] = n - result["connected"]
    say(f"N={n}: {result['connected']:,} connected in {result['connect_s']:.1f} s ({result['connect_failed']} failed)")
    # The load generator's own pauses must not count as the server's: its N clients' objects
    # are frozen out of garbage collection (a full collection over them took up to 0.4 s here).
    gc.collect()
    gc.freeze()
    pinger = asyncio.create_task(load.ping_all())
    await asyncio.sleep(3)
    rss_after = server.rss_bytes()
    result["rss_before_mb"] = rss_before / 2**20
    result["rss_after_mb"] = rss_after / 2**20
    result["kb_per_connection"] = (rss_after - rss_before) / max(1, result["connected"]) / 1024
    say(
        f"N={n}: server RSS {rss_before / 2**20:.0f} -> {rss_after / 2**20:.0f} MB: "
        f"{result['kb_per_connection']:.1f} KB per connection"
    )

    # Pushes: webhooks to the socket process itself, then (with ``ingest``) to another server
    # process, as behind a load balancer, so that the socket process only delivers.
    connected_names = [c.username for c in load.clients if c.ws is not None]
    by_name = {client.username: client for client in load.clients}

    def shown_at(k: int) -> float | None:
        """When the client first held push ``k`` or a newer one of its own (a newer offer
        replaces the older one: a client that skipped straight to it lost nothing)."""
        return min((at for number, at in by_name[load.push_user[k]].pushes if number >= k), default=None)

    phases: dict[str, dict[str, Any]] = {}
    first_number = 0
    if config.warmup_seconds:
        # Warm-up, not measured: the same pushes for a few seconds, so that what the first pushes
        # after a wave of connections pay once (the garbage collector promoting the new sockets'
        # objects, the per-process caches) is not in the figures; the wrk rows warm up likewise.
        errors_before = load.push_errors
        numbers = await push_offers(
            load,
            base_url=server.base_url,
            secret=secret,
            config=dataclasses.replace(config, push_seconds=config.warmup_seconds),
            usernames=connected_names,
            first_number=first_number,
        )
        first_number = numbers[-1] + 1 if numbers else first_number
        await wait_until(lambda: all(shown_at(k) is not None for k in numbers if k in load.push_accepted), PUSH_DRAIN_S)
        result["warmup_pushes"] = len(numbers)
        result["warmup_failed"] = load.push_errors - errors_before
        say(f"N={n}: warm-up: {len(numbers):,} pushes in {config.warmup_seconds} s ({result['warmup_failed']} failed)")
        await wait_idle(server, IDLE_WAIT_S)
    for phase, receiver in (("same", server), ("separate", ingest)):
        if receiver is None:
            continue
        errors_before = load.push_errors
        cpu_before, receiver_cpu_before = server.cpu_seconds(), receiver.cpu_seconds()
        push_started = time.monotonic()
        numbers = await push_offers(
            load,
            base_url=receiver.base_url,
            secret=secret,
            config=config,
            usernames=connected_names,
            first_number=first_number,
        )
        first_number = numbers[-1] + 1 if numbers else first_number
        sent_s = time.monotonic() - push_started
        accepted = {k: load.push_accepted[k] for k in numbers if k in load.push_accepted}
        drained = await wait_until(lambda: all(shown_at(k) is not None for k in accepted), PUSH_DRAIN_S)  # noqa: B023
        drain_s = time.monotonic() - push_started - sent_s
        shown = {k: at for k in accepted if (at := shown_at(k)) is not None}
        latencies = [max(0.0, shown[k] - accepted[k]) * 1000 for k in shown]
        from_sent = [(shown[k] - load.push_sent[k]) * 1000 for k in shown]
        figures: dict[str, Any] = {
            "receiver": phase,
            "push_send_s": sent_s,
            "push_drain_s": drain_s,
            "push_drained": drained,
            "push_server_cpu_s": server.cpu_seconds() - cpu_before,
            "push_receiver_cpu_s": receiver.cpu_seconds() - receiver_cpu_before if receiver is not server else None,
            "pushes_accepted": len(accepted),
            "pushes_failed": load.push_errors - errors_before,
            "pushes_delivered": len(latencies),
            "pushes_dropped": len(accepted) - len(latencies),
            "push_rate_achieved": len(accepted) / sent_s if sent_s else 0.0,
            "push_p50_ms": percentile(latencies, 50),
            "push_p99_ms": percentile(latencies, 99),
            "push_max_ms": max(latencies, default=float("nan")),
            "push_sent_p50_ms": percentile(from_sent, 50),
            "push_sent_p99_ms": percentile(from_sent, 99),
            "push_before_accepted": sum(shown[k] < accepted[k] for k in shown),
        }
        phases[phase] = figures
        say(
            f"N={n}, webhooks to {'the socket process' if phase == 'same' else 'another process'}: pushes "
            f"{figures['pushes_accepted']:,} accepted ({figures['pushes_failed']} failed) "
            f"at {figures['push_rate_achieved']:.0f}/s, "
            f"{figures['pushes_delivered']:,} delivered, p50 {figures['push_p50_ms']:.1f} ms, "
            f"p99 {figures['push_p99_ms']:.1f} ms "
            f"(from the request: p99 {figures['push_sent_p99_ms']:.1f} ms), dropped {figures['pushes_dropped']}, "
            f"socket process CPU {figures['push_server_cpu_s']:.1f} s"
        )
        await wait_idle(server, IDLE_WAIT_S)
    result["pushes"] = phases
    result["pushes_dropped"] = sum(p["pushes_dropped"] for p in phases.values())
    result["pushes_failed"] = result.get("warmup_failed", 0) + sum(p["pushes_failed"] for p in phases.values())
    result["frames_with_pushes"] = sum(len(c.pushes) for c in load.clients)

    # Broadcasts, once the server has finished what the pushes left it (cache invalidations its
    # subscriber thread applies, queued tasks): idle means under 10% of its CPU for a second.
    settle_started = time.monotonic()
    result["server_idle"] = await wait_idle(server, IDLE_WAIT_S)
    result["settle_s"] = time.monotonic() - settle_started
    say(f"N={n}: server {'idle' if result['server_idle'] else 'still busy'} after {result['settle_s']:.1f} s")
    rounds = []
    for round_number in range(config.broadcasts):
        title = f"wsbc{round_number}x Deal for everyone at N={n}"
        command = [python, "-m", "bench.ws_django", "deals", BROADCAST_PRODUCT, title]
        done = await asyncio.to_thread(
            subprocess.run, command, cwd=ROOT, env=django_env, capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise BenchError(f"recording deals failed:\n{done.stderr[-2000:]}")
        times = json.loads(done.stdout.strip().splitlines()[-1])
        open_clients = [c for c in load.clients if c.ws is not None and not c.closed_unexpectedly]
        await wait_until(lambda: all(round_number in c.broadcasts for c in open_clients), WAIT_S)  # noqa: B023
        got = [c.broadcasts[round_number] - times["before"] for c in open_clients if round_number in c.broadcasts]
        row = {
            "round": round_number,
            "clients": len(open_clients),
            "received": len(got),
            "missed": len(open_clients) - len(got),
            "first_s": min(got, default=float("nan")),
            "median_s": statistics.median(got) if got else float("nan"),
            "last_s": max(got, default=float("nan")),
            "record_s": times["after"] - times["before"],
        }
        rounds.append(row)
        say(
            f"N={n}: broadcast {round_number}: {row['received']:,}/{row['clients']:,} clients, "
            f"first {row['first_s']:.3f} s, median {row['median_s']:.3f} s, last {row['last_s']:.3f} s "
            "after the deals were recorded"
        )
        await asyncio.sleep(1)
    result["broadcasts"] = rounds
    result["broadcast_last_s"] = max((r["last_s"] for r in rounds), default=float("nan"))
    result["broadcast_missed"] = sum(r["missed"] for r in rounds)
    result["closed_by_server"] = sum(1 for c in load.clients if c.closed_unexpectedly)
    result["close_codes"] = sorted({c.closed_code for c in load.clients if c.closed_unexpectedly}, key=str)
    result["dropped"] = result["pushes_dropped"] + result["broadcast_missed"]

    load.closing = True
    pinger.cancel()
    await asyncio.gather(*(c.ws.close() for c in load.clients if c.ws is not None), return_exceptions=True)
    await asyncio.gather(*tasks, return_exceptions=True)
    gc.unfreeze()
    return result


# --- The report -----------------------------------------------------------------------------------


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} vCPU {model}, {platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def verdict(ok: bool) -> str:
    return "met" if ok else "**NOT met**"


def codes_text(result: dict[str, Any]) -> str:
    codes = result.get("close_codes") or []
    return f" (codes {', '.join(str(code) for code in codes)})" if codes else ""


def rounds_text(result: dict[str, Any]) -> str:
    return ", ".join(f"{b['last_s']:.3f}" for b in result["broadcasts"])


def render(results: list[dict[str, Any]], *, config: Config, info: dict[str, Any]) -> str:
    busy = " (the machine was busy: figures are noisy)" if info["busy"] else ""
    lines = [
        START_MARK,
        "### WebSocket live updates (`bench/ws.py`)",
        "",
        f"Generated by `{info['command']}` on {info['finished']} — {info['machine']}; load average before "
        f"{info['load_before']}, after {info['load_after']}{busy}. PostgreSQL {info['postgres']}, Redis "
        f"{info['redis']}. One uvicorn process (`{info['server_command']}`) pinned to CPU {info['server_cpu']}; "
        f"the load generator (this script: N `websockets` clients without compression, an application `ping` "
        f"per client every {PING_EVERY_S:.0f} s, and an httpx webhook sender) pinned to CPU {info['client_cpu']}. "
        f"Pushes: signed `offer.upserted` webhooks for {PUSH_PRODUCT}, {config.push_rate} events/s for "
        f"{config.push_seconds} s in requests of {config.push_batch} events "
        f"({config.push_rate // config.push_batch} requests/s), each to the next connected user in turn, "
        f"after {config.warmup_seconds} s of the same pushes to the socket process, not measured; latency "
        "from the webhook's `accepted_at` (when the server committed the batch: the frame can only be sent "
        "after it; one clock, one machine) to the client holding the frame, and in brackets from the moment the "
        "webhook request was sent (which adds the request's own time in the server); a client that received a "
        "newer push of its own first holds it then. Broadcasts: a separate "
        f"process records new {BROADCAST_PRODUCT} deals as the poller does (every client shows "
        f"{BROADCAST_PRODUCT}'s generic deals), {config.broadcasts} times; time from just before that write to "
        "the last client holding the new section.",
        "",
        "| N | connected | connect time | server RSS before → after | per connection | webhooks received by "
        "| pushes accepted | push p50 | push p99 (from the request) | socket process CPU per push "
        "| broadcast: last client (each round) | dropped | closed by server |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for phase in r["pushes"].values():
            receiver_cpu = phase["push_receiver_cpu_s"]
            cpu = f"{phase['push_server_cpu_s'] / max(1, phase['pushes_accepted']) * 1000:.1f} ms"
            if receiver_cpu is not None:
                cpu += f" (+ {receiver_cpu / max(1, phase['pushes_accepted']) * 1000:.1f} ms in the other)"
            lines.append(
                f"| {r['n']:,} | {r['connected']:,} ({r['connect_failed']} failed) | {r['connect_s']:.1f} s | "
                f"{r['rss_before_mb']:.0f} → {r['rss_after_mb']:.0f} MB | {r['kb_per_connection']:.1f} KB | "
                f"{RECEIVERS[phase['receiver']]} | "
                f"{phase['pushes_accepted']:,} at {phase['push_rate_achieved']:.0f}/s "
                f"({phase['pushes_failed']} failed) | "
                f"{phase['push_p50_ms']:.1f} ms | {phase['push_p99_ms']:.1f} ms ({phase['push_sent_p99_ms']:.1f} ms) | "
                f"{cpu} | {r['broadcast_last_s']:.3f} s ({rounds_text(r)}) | "
                f"{r['dropped']} | {r['closed_by_server']}{codes_text(r)} |"
            )
    lines.append("")
    for r in results:
        for phase in r["pushes"].values():
            caught_up = (
                f"every accepted push was shown {phase['push_drain_s']:.1f} s after the last webhook was sent"
                if phase["push_drained"]
                else f"pushes were still arriving {PUSH_DRAIN_S:.0f} s after the last webhook (the rest: dropped)"
            )
            lines.append(
                f"- N = {r['n']:,}, webhooks received by {RECEIVERS[phase['receiver']]}: {caught_up}; from the "
                f"first webhook to then ({phase['push_send_s'] + phase['push_drain_s']:.1f} s) the socket process "
                f"used {phase['push_server_cpu_s']:.1f} CPU-seconds of its one CPU. Frames shown before their "
                f"batch's `accepted_at`: {phase['push_before_accepted']} (0 expected)."
            )
        lines.append(
            f"- N = {r['n']:,}: the broadcasts were measured after the pushes, once the socket process was "
            + (
                f"idle again ({r['settle_s']:.0f} s later)."
                if r["server_idle"]
                else f"still busy after {IDLE_WAIT_S:.0f} s (it never went idle)."
            )
        )
    top = next((r for r in results if r["n"] == TARGET_CONNECTIONS), None)
    lines += ["", f"Targets (issue 5, at N = {TARGET_CONNECTIONS:,}):", ""]
    if top is None:
        lines.append(f"- not measured: this run did not include N = {TARGET_CONNECTIONS:,} (BENCH_WS_SIZES).")
    else:
        held = top["connected"] == TARGET_CONNECTIONS and top["closed_by_server"] == 0
        broadcast_ok = top["broadcast_last_s"] <= TARGET_BROADCAST_S and top["broadcast_missed"] == 0
        lines.append(
            f"- {TARGET_CONNECTIONS:,} connections held by one process: {top['connected']:,} connected, "
            f"{top['closed_by_server']} closed by the server: {verdict(held)}"
        )
        for phase in top["pushes"].values():
            push_ok = (
                phase["push_p99_ms"] <= TARGET_PUSH_P99_MS and phase["push_rate_achieved"] >= 0.95 * config.push_rate
            )
            lines.append(
                f"- push-to-client p99 ≤ {TARGET_PUSH_P99_MS:.0f} ms at {config.push_rate} pushes/s, webhooks "
                f"received by {RECEIVERS[phase['receiver']]}: {phase['push_p99_ms']:.1f} ms at "
                f"{phase['push_rate_achieved']:.0f}/s: {verdict(push_ok)}"
            )
        lines += [
            f"- a broadcast reaches all {TARGET_CONNECTIONS:,} within {TARGET_BROADCAST_S:.0f} s: worst round "
            f"{top['broadcast_last_s']:.3f} s: {verdict(broadcast_ok)}",
            f"- zero dropped: {top['dropped']} dropped ({top['pushes_dropped']} pushes, "
            f"{top['broadcast_missed']} broadcast deliveries), {top['pushes_failed']} webhook events not accepted: "
            f"{verdict(top['dropped'] == 0 and top['pushes_failed'] == 0 and top['closed_by_server'] == 0)}",
        ]
    lines += ["", END_MARK]
    return "\n".join(lines)


def write_doc(section: str) -> None:
    text = DOC.read_text() if DOC.exists() else ""
    if START_MARK in text and END_MARK in text:
        before, rest = text.split(START_MARK, 1)
        after = rest.split(END_MARK, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(text)


# --- Main -------------------------------------------------------------------------------------------


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(hard, max(needed, soft))
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        raise BenchError(f"the open-files limit is {soft}, below the {needed} needed (raise ulimit -n)")


def watchdog(seconds: int, cleanup: list[WsServer]) -> None:
    """Stop everything this run started if it outlives its time bound."""

    def fire() -> None:
        say(f"time bound of {seconds} s reached: stopping")
        for server in cleanup:
            server.stop()
        os._exit(3)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()


def main() -> int:
    try:
        config = Config.from_env()
    except BenchError as exc:
        print(f"bench.ws: {exc}", file=sys.stderr)
        return 2
    cleanup: list[WsServer] = []
    watchdog(config.max_seconds, cleanup)
    redis_client = None
    try:
        raise_fd_limit(max(config.sizes) * 2 + 1000)
        load_before = [round(x, 2) for x in os.getloadavg()]
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        out_dir = RESULTS / f"ws-{stamp}"
        (out_dir / "var" / "static").mkdir(parents=True, exist_ok=True)
        log = out_dir / "prepare.log"

        redis_client, redis_version = services.redis_connect(config.redis_url)
        say(f"PostgreSQL: recreating database {services.database_name(config.database_url)}")
        postgres_version = services.recreate_database(config.database_url)
        say(
            f"Redis {redis_version}: {services.delete_prefixed(redis_client, KEY_PREFIX)} "
            f"stale {KEY_PREFIX}:* keys deleted"
        )
        server_cpu, client_cpu, warnings = cpu_plan()
        for warning in warnings:
            say(f"WARNING: {warning}")
        python = display_python()

        django_env = {
            **services.project_env(
                database_url=config.database_url,
                redis_url=config.redis_url,
                key_prefix=KEY_PREFIX,
                var_dir=str(out_dir / "var"),
            ),
            "JWT_ACCESS_TTL_SECONDS": str(3 * 3600),
        }
        run_step("migrate", [python, "manage.py", "migrate", "--noinput"], env=django_env, log=log)
        run_step("seed_demo", [python, "manage.py", "seed_demo"], env={**django_env, "DEBUG": "true"}, log=log)
        secret = manage_output(python, ["webhook_secret", PUSH_PRODUCT, "--rotate"], env=django_env).splitlines()[-1]
        say(f"creating {max(config.sizes):,} users and their tokens")
        done = subprocess.run(
            [python, "-m", "bench.ws_django", "users", str(max(config.sizes))],
            cwd=ROOT,
            env=django_env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise BenchError(f"creating users failed:\n{done.stderr[-2000:]}")
        users: list[list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
        serve_env = {
            **django_env,
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            # The webhook rate limit is per product and minute; the bench's pushes all go to one.
            "WEBHOOK_RATE_LIMIT_PER_MINUTE": "1000000",
        }
        if client_cpu is not None:
            os.sched_setaffinity(0, {client_cpu})

        results = []
        server_command = ""
        for n in config.sizes:
            server = WsServer(python=python, cpu=server_cpu, env=serve_env, log=out_dir / f"server-{n}.log")
            cleanup.append(server)
            # Another server process of the same project receives the webhooks of the second push
            # phase; it shares the load generator's CPU (the machine has two).
            ingest = WsServer(
                python=python, cpu=client_cpu, env=serve_env, log=out_dir / f"ingest-{n}.log", name="ingest server"
            )
            cleanup.append(ingest)
            port_at = server.command.index("--port")
            server_command = shlex.join([*server.command[:port_at], "--port", "<port>", *server.command[port_at + 2 :]])
            server.wait_ready()
            ingest.wait_ready()
            try:
                results.append(
                    asyncio.run(
                        measure(
                            n=n,
                            server=server,
                            ingest=ingest,
                            users=users,
                            secret=secret,
                            config=config,
                            django_env=django_env,
                            python=python,
                        )
                    )
                )
            finally:
                server.stop()
                ingest.stop()
        (out_dir / "ws.json").write_text(json.dumps(results, indent=2) + "\n")
        load_after = [round(x, 2) for x in os.getloadavg()]
        info = {
            "command": ".venv/bin/python -m bench.ws"
            + (f" (BENCH_WS_SIZES={','.join(map(str, config.sizes))})" if config.sizes != [1000, 5000] else ""),
            "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(),
            "load_before": load_before,
            "load_after": load_after,
            "busy": load_before[0] > 0.5,
            "postgres": postgres_version,
            "redis": redis_version,
            "server_command": server_command,
            "server_cpu": server_cpu,
            "client_cpu": client_cpu,
        }
        section = render(results, config=config, info=info)
        (out_dir / "ws.md").write_text(section + "\n")
        print(section)
        if config.update_docs:
            write_doc(section)
            say(f"docs/benchmarks.md updated; results in {out_dir}")
        return 0
    except (BenchError, services.ServiceError) as exc:
        say(f"FAILED: {exc}")
        return 1
    finally:
        for server in cleanup:
            server.stop()
        if redis_client is not None:
            say(f"Redis: {services.delete_prefixed(redis_client, KEY_PREFIX)} {KEY_PREFIX}:* keys deleted")
            redis_client.close()


if __name__ == "__main__":
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    sys.exit(main())
