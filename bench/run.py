"""`make bench`: the authenticated home feed, full stack, against a bare ASGI + Redis baseline.

One run (about a minute with the defaults; docs/benchmarks.md explains what it measures):

1. checks PostgreSQL and Redis, drops and recreates the bench database, deletes the bench's Redis
   keys (prefix ``hs-bench``), installs wrk if it is missing;
2. ``manage.py migrate`` and ``manage.py seed_demo`` (``DEBUG=true`` for the seed only);
3. serves the project with uvicorn pinned to one CPU, production-like settings (``DEBUG=false``,
   the project's PostgreSQL connection pool as configured): first with fragment caches that keep
   nothing (COLD_ENV, 16 connections), then as configured; gets alice's token and feed, and loads
   ``GET /api/v1/home/`` with wrk pinned to another CPU, plainly and with ``If-None-Match`` (304)
   at 64 connections and plainly at 16, counting the bench database's PostgreSQL connections
   meanwhile; then posts pre-signed webhook events to the same server (bench/ingest.py: single
   events, then batches of 100);
4. stops it, stores the feed bytes in Redis and serves bench/bare_asgi.py the same way as the
   baseline, loaded with the same wrk settings (64 and 16 connections);
5. prints the table, writes bench/results/<time>/ and the generated section of
   docs/benchmarks.md; stops its servers and deletes its Redis keys whatever happens.

Before the servers, bench/render.py times section rendering in a process of its own (no
database, no servers), pinned to the server's CPU.

Environment: BENCH_DATABASE_URL, BENCH_REDIS_URL, BENCH_DURATION, BENCH_WARMUP,
BENCH_CONNECTIONS, BENCH_UPDATE_DOCS (see docs/benchmarks.md). The served project reads
DATABASE_POOL, DATABASE_POOL_MIN_SIZE, DATABASE_POOL_MAX_SIZE and DATABASE_POOL_TIMEOUT from the
environment like any deployment; the report records the settings in effect.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import redis

from . import report, services
from .wrk import WrkError, WrkSettings, ensure_wrk, parse_wrk, run_wrk, wrk_version

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"

KEY_PREFIX = "hs-bench"
FEED_KEY = f"{KEY_PREFIX}:bare:feed"
PROJECT_APP = "homeservice.asgi:application"
BASELINE_APP = "bench.bare_asgi:application"
FEED_PATH = "/api/v1/home/"
DEMO_USER = "alice"
DEMO_PASSWORD = "demo1234"  # noqa: S105 - the public demo password seed_demo sets (README.md)

# Lower concurrency for the latency rows (the p99 targets are at 16 connections).
LOW_CONNECTIONS = 16
# The cold-cache server: the same project, its fragment caches configured to keep nothing. L1's
# entries expire at once (TTL 0), L2 writes with a timeout of 0 (django-redis deletes instead of
# setting), and a request that finds another's render lease does not wait for its result. So
# every feed request misses L1 and L2 and renders its sections from PostgreSQL (it still pays
# the L2 lookup and the lease round trips a real miss pays).
# No feed document is stored either (a time to live under a second stores nothing), so the fast path
# finds none every time and builds it (feed_build.py), or, in the second cold row, the view does.
COLD_ENV = {
    "FRAGMENT_L1_TTL_SECONDS": "0",
    "FRAGMENT_L2_TTL_SECONDS": "0",
    "FRAGMENT_LEASE_WAIT_SECONDS": "0",
    "FEED_DOC_TTL_SECONDS": "0",
}
COLD_VIEW_ENV = {**COLD_ENV, "FEED_FAST_BUILD": "false"}
# Cold requests rotate through this many users with alice's offers (bench/cold_users.py), so the
# requests in flight are for different users and none shares another's render of a personal section.
COLD_USERS = 2000
COLD_SCRIPT = """-- every request as the next of the cold users (bench/cold_users.py)
local tokens = {}
local next_token = 0
init = function(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
end
request = function()
  next_token = next_token %% #tokens + 1
  return wrk.format("GET", "%s", {["Authorization"] = "Bearer " .. tokens[next_token]})
end
"""
COLD_TEXT = (
    "the same server with `FRAGMENT_L1_TTL_SECONDS=0 FRAGMENT_L2_TTL_SECONDS=0 FRAGMENT_LEASE_WAIT_SECONDS=0 "
    "FEED_DOC_TTL_SECONDS=0`: L1 entries expire at once, L2 writes are deletes and no feed document is stored. "
    f"Each request is for the next of {COLD_USERS:,} users with alice's offers (`bench/cold_users.py`, a wrk "
    "script rotating their tokens), so every request misses the stored documents and both fragment layers and "
    "its personal sections are rendered from PostgreSQL; generic sections are shared by all users, so a request "
    "may get one from a concurrent request's render in flight (single flight). The first cold row is the project "
    "as configured: the fast path builds the document (`recommendations/feed_build.py`); the second has "
    "`FEED_FAST_BUILD=false`, so the view builds it (Django, DRF, the ORM)"
)
# The reference view alone: the same project with the fast path switched off.
VIEW_ONLY_ENV = {"FEED_FAST_PATH": "false"}
# The demo products that get a webhook secret for the ingestion rows (3 users x 4 = 12 streams).
INGEST_PRODUCTS = ("broadband", "energy", "mobile", "tv")

STARTED = time.monotonic()


def median_run(runs: list[report.Row], key: str, *, by: str = "p99") -> report.Row:
    """The median of ``runs`` (measured rows of one target) by p99, or by requests per second
    (``by="throughput"``), as the row ``key``; every round's figures go with it (``Row.rounds``)."""
    if by == "throughput":
        ordered = sorted(runs, key=lambda row: row.result.requests_per_s)
    else:
        ordered = sorted(runs, key=lambda row: row.result.latency_p99_ms)
    chosen = ordered[(len(ordered) - 1) // 2]
    rounds = [(row.result.requests_per_s, row.result.latency_p99_ms) for row in runs]
    return dataclasses.replace(chosen, key=key, rounds=rounds, median_by=by)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


BenchError = services.BenchError


@dataclass(frozen=True)
class Config:
    database_url: str
    redis_url: str
    duration_s: int
    warmup_s: int
    connections: int
    update_docs: bool
    rounds: int

    @classmethod
    def from_env(cls) -> Config:
        return cls(
            database_url=os.environ.get("BENCH_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/hs_bench",
            redis_url=os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/0",
            duration_s=services.env_integer("BENCH_DURATION", 10),
            warmup_s=services.env_integer("BENCH_WARMUP", 3),
            connections=services.env_integer("BENCH_CONNECTIONS", 64),
            rounds=services.env_integer("BENCH_ROUNDS", 3),
            update_docs=services.env_update_docs(),
        )


@dataclass(frozen=True)
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def say(message: str) -> None:
    print(f"bench [{time.monotonic() - STARTED:5.1f}s] {message}", flush=True)


def http_request(port: int, method: str, path: str, *, body: bytes | None = None, headers: dict[str, str]) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_plan() -> tuple[int | None, int | None, list[str]]:
    """(server CPU, wrk CPU, warnings): the first two CPUs this process may use."""
    if not shutil.which("taskset"):
        return None, None, ["taskset not found (util-linux): nothing is pinned, figures are noisier"]
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return allowed[0], None, ["only one CPU: wrk shares it with the server, figures are not comparable"]
    return allowed[0], allowed[1], []


def display_python() -> str:
    """sys.executable as typed from the checkout (``.venv/bin/python``) when it is inside it."""
    path = Path(sys.executable)
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def server_command(app: str, port: int, cpu: int | None, python: str) -> list[str]:
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    return [
        *pin,
        *(python, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)),
        *("--lifespan", "off", "--no-access-log", "--log-level", "warning"),
    ]


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run_step(name: str, command: list[str], *, env: dict[str, str], log: Path, timeout_s: float = 180) -> None:
    say(f"{name}: {shlex.join(command)}")
    with log.open("ab") as out:
        out.write(f"\n$ {shlex.join(command)}\n".encode())
        out.flush()
        try:
            done = subprocess.run(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"{name} did not finish within {timeout_s:.0f} s (log: {log})") from exc
    if done.returncode != 0:
        raise BenchError(f"{name} failed with exit status {done.returncode}; last lines of {log}:\n{log_tail(log)}")


def manage_output(python: str, args: list[str], *, env: dict[str, str]) -> str:
    """``manage.py <args>``'s standard output (raises BenchError on failure); never logged."""
    try:
        done = subprocess.run(
            [python, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"manage.py {args[0]} did not finish within 120 s") from exc
    if done.returncode != 0 or not done.stdout.strip():
        raise BenchError(f"manage.py {args[0]} failed (exit status {done.returncode}):\n{done.stderr}")
    return done.stdout.strip()


def ingest_command(python: str, cpu: int | None) -> list[str]:
    return [*(["taskset", "-c", str(cpu)] if cpu is not None else []), python, "-m", "bench.ingest", "--json"]


def run_ingest_bench(
    python: str, cpu: int | None, port: int, webhook_secrets: dict[str, str], out_dir: Path
) -> list[dict[str, Any]]:
    """bench/ingest.py in a process of its own, pinned like wrk, against the project on ``port``."""
    command = ingest_command(python, cpu)
    say(f"webhook ingestion: {shlex.join(command)}")
    env = {
        **os.environ,
        "BENCH_INGEST_BASE_URL": f"http://127.0.0.1:{port}",
        "BENCH_INGEST_SECRETS": json.dumps(webhook_secrets),
    }
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchError("the ingestion benchmark did not finish within 600 s") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise BenchError(f"the ingestion benchmark failed (exit status {done.returncode}):\n{done.stdout}{done.stderr}")
    rows: list[dict[str, Any]] = json.loads(lines[-1])
    (out_dir / "ingest.json").write_text(json.dumps(rows, indent=2) + "\n")
    for row in rows:
        say(
            f"ingestion, {row['case']}: {row['events_per_s']:,.0f} events/s ({row['requests_per_s']:,.0f} requests/s, "
            f"p50 {row['latency_p50_ms']:.1f} ms, p99 {row['latency_p99_ms']:.1f} ms, concurrency "
            f"{row['concurrency']}), errors {row['errors']} {row['statuses']}, outcomes {row['outcomes']}"
        )
    return rows


# Prints the database settings the served project ends up with (homeservice/settings.py derives
# them from DATABASE_URL and DATABASE_POOL*), so that the report states what was in effect.
DATABASE_SETTINGS_PROBE = (
    "import json, django; django.setup(); from django.conf import settings; "
    "d = settings.DATABASES['default']; "
    "print(json.dumps({'engine': d['ENGINE'], 'conn_max_age': d.get('CONN_MAX_AGE'), "
    "'pool': d.get('OPTIONS', {}).get('pool', False), "
    "'build_pool': settings.FEED_FAST_BUILD_DB_POOL_SIZE if settings.FEED_FAST_BUILD else 0}))"
)


def database_settings(python: str, env: dict[str, str]) -> dict[str, Any]:
    """ENGINE, CONN_MAX_AGE and the pool options of the project's default database under ``env``."""
    command = [python, "-c", DATABASE_SETTINGS_PROBE]
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchError("reading the project's database settings did not finish within 60 s") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise BenchError(
            f"reading the project's database settings failed (exit status {done.returncode}):\n"
            f"{done.stdout}{done.stderr}"
        )
    return dict(json.loads(lines[-1]))


def run_render_bench(python: str, cpu: int | None, out_dir: Path) -> list[dict[str, Any]]:
    """bench/render.py in a process of its own, pinned like the servers; its rows, as JSON."""
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    command = [*pin, python, "-m", "bench.render", "--json"]
    say(f"render benchmark: {shlex.join(command)}")
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchError("the render benchmark did not finish within 300 s") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise BenchError(f"the render benchmark failed (exit status {done.returncode}):\n{done.stdout}{done.stderr}")
    rows: list[dict[str, Any]] = json.loads(lines[-1])
    (out_dir / "render.json").write_text(json.dumps(rows, indent=2) + "\n")
    for row in rows:
        say(
            f"render: {row['case']}: {row['us_per_section']:.0f} µs per section "
            f"({row['sections_per_s']:,.0f} sections/s), target < {row['target_us']:.0f} µs "
            f"{'met' if row['meets_target'] else 'MISSED'}"
        )
    return rows


class Server:
    """One uvicorn process, started pinned to a CPU and stopped by its PID."""

    def __init__(self, name: str, command: list[str], *, port: int, env: dict[str, str], log: Path) -> None:
        self.name, self.command, self.port, self.log = name, command, port, log
        with log.open("wb") as out:
            # taskset execs the interpreter, so this PID is uvicorn's.
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        say(f"{name}: started PID {self.process.pid}: {shlex.join(command)}")

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the server has used so far, from /proc; None if unreadable."""
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        except OSError:
            return None
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": field 3 (state) is fields[0]
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15: utime, stime

    def wait_ready(self, path: str, *, headers: dict[str, str], timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with {self.process.returncode} before it was ready; "
                    f"last lines of {self.log}:\n{log_tail(self.log)}"
                )
            try:
                reply = http_request(self.port, "GET", path, headers=headers)
                if reply.status == 200:
                    say(f"{self.name}: ready (GET {path} 200)")
                    return
                last = f"HTTP {reply.status}: {reply.body[:300].decode(errors='replace')}"
            except OSError as exc:
                last = f"{exc.__class__.__name__}: {exc}"
            time.sleep(0.2)
        raise BenchError(
            f"{self.name} was not ready within {timeout_s:.0f} s (GET {path}: {last}); "
            f"last lines of {self.log}:\n{log_tail(self.log)}"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            say(f"{self.name}: stopped PID {self.process.pid}")


def bench_target(
    *,
    key: str,
    target: str,
    server: Server,
    path: str,
    headers: dict[str, str],
    settings: WrkSettings,
    secret: str,
    warmup_s: int,
    out_dir: Path,
    sampler: services.ConnectionSampler | None,
    script: Path | None = None,
    script_args: list[str] | None = None,
) -> report.Row:
    url = f"http://127.0.0.1:{server.port}{path}"
    header_lines = [f"{name}: {value}" for name, value in headers.items()]
    timeout = settings.timeout_s + 30
    lua = str(script.relative_to(ROOT)) if script else None
    warm = "(none: a later round of the same target)\n"
    if warmup_s > 0:
        say(f"{target}: warm-up {warmup_s} s")
        warm = run_wrk(
            settings.command("wrk", url, header_lines, duration_s=warmup_s, script=lua, script_args=script_args),
            timeout_s=warmup_s + timeout,
        )
    command = settings.command("wrk", url, header_lines, script=lua, script_args=script_args)
    shown = shlex.join(command).replace(secret, "<access token>") if secret else shlex.join(command)
    say(f"{target}: {shown}")
    started = time.monotonic()
    cpu_before = server.cpu_seconds()
    output = run_wrk(command, timeout_s=settings.duration_s + timeout)
    cpu_after = server.cpu_seconds()
    db_peak = sampler.peak(since=started, until=time.monotonic()) if sampler else None
    cpu_s = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    (out_dir / f"wrk-{key}.txt").write_text(f"$ {shown}\n\n# warm-up\n{warm}\n# measured\n{output}")
    result = parse_wrk(output)
    row = report.Row(
        key=key, target=target, command=shown, result=result, server_cpu_s=cpu_s, db_connections_peak=db_peak
    )
    db_text = f", PostgreSQL connections at most {db_peak}" if db_peak is not None else ""
    say(
        f"{target}: {result.requests_per_s:,.0f} req/s, p50 {result.latency_p50_ms:.1f} ms, "
        f"p99 {result.latency_p99_ms:.1f} ms, server CPU {report.fmt(row.cpu_ms_per_request, '.3f', ' ms/request')}, "
        f"errors {result.errors}{db_text}"
    )
    return row


def bench(
    config: Config,
    cleanup: list[Server],
    redis_client: list[redis.Redis],
    samplers: list[services.ConnectionSampler],
) -> int:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out_dir = RESULTS / stamp
    (out_dir / "var" / "static").mkdir(parents=True, exist_ok=True)
    prepare_log = out_dir / "prepare.log"

    load_before = [round(x, 2) for x in os.getloadavg()]
    if load_before[0] > 0.5:
        say(f"WARNING: load average {load_before[0]}: other processes compete for the CPUs, figures will be noisy")

    # 1. Services, a clean database and key space, wrk.
    client, redis_version = services.redis_connect(config.redis_url)
    redis_client.append(client)
    say(f"PostgreSQL: recreating database {services.database_name(config.database_url)}")
    postgres_version = services.recreate_database(config.database_url)
    stale = services.delete_prefixed(client, KEY_PREFIX)
    say(f"Redis {redis_version}: ok ({stale} stale {KEY_PREFIX}:* keys deleted)")
    try:
        wrk = ensure_wrk()
    except WrkError as exc:
        raise BenchError(str(exc)) from exc
    server_cpu, wrk_cpu, warnings = cpu_plan()
    for warning in warnings:
        say(f"WARNING: {warning}")
    python = display_python()

    # 1b. The in-process render micro-benchmark (no servers), on the server's CPU.
    render_rows = run_render_bench(python, server_cpu, out_dir)

    # 2. Schema and demo data. DEBUG only for the seed (it refuses to run without it).
    base_env = services.outside_env()
    django_env = services.project_env(
        database_url=config.database_url,
        redis_url=config.redis_url,
        key_prefix=KEY_PREFIX,
        var_dir=str(out_dir / "var"),
    )
    run_step("migrate", [python, "manage.py", "migrate", "--noinput"], env=django_env, log=prepare_log)
    run_step("seed_demo", [python, "manage.py", "seed_demo"], env={**django_env, "DEBUG": "true"}, log=prepare_log)

    # 2b. A webhook secret per demo product, for the ingestion rows (printed once on stdout).
    webhook_secrets = {
        slug: manage_output(python, ["webhook_secret", slug, "--rotate"], env=django_env).splitlines()[-1].strip()
        for slug in INGEST_PRODUCTS
    }

    # 3. The project, production-like settings.
    serve_env = {
        **django_env,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
    }
    # The database settings are the project's own (a psycopg pool per process unless
    # DATABASE_POOL=false): see docs/benchmarks.md, "Settings".
    db_settings = database_settings(python, serve_env)
    pool_text = report.describe_database(db_settings)
    pool_max = report.pool_max_size(db_settings)
    say(f"project database: {pool_text}")
    settings = WrkSettings(
        threads=1, connections=config.connections, duration_s=config.duration_s, timeout_s=5, cpu=wrk_cpu
    )
    settings_low = dataclasses.replace(settings, connections=LOW_CONNECTIONS)
    sampler = services.ConnectionSampler(config.database_url)
    samplers.append(sampler)
    sampler.start()

    def serve_project(name: str, env: dict[str, str]) -> Server:
        port = free_port()
        server = Server(
            name, server_command(PROJECT_APP, port, server_cpu, python), port=port, env=env, log=out_dir / f"{name}.log"
        )
        cleanup.append(server)
        server.wait_ready("/readyz", headers={})
        return server

    # 3a. Cold caches: the same project with fragment caches that keep nothing (see COLD_ENV), so
    # that every feed request misses L1 and L2 and renders its sections from PostgreSQL; each
    # request for another user (COLD_SCRIPT).
    tokens_file = out_dir / "cold-tokens.txt"
    run_step(
        "cold users",
        [python, "-m", "bench.cold_users", "--count", str(COLD_USERS), "--tokens", str(tokens_file)],
        env=django_env,
        log=prepare_log,
    )
    cold_script = out_dir / "cold.lua"
    cold_script.write_text(COLD_SCRIPT % FEED_PATH)
    login = json.dumps({"username": DEMO_USER, "password": DEMO_PASSWORD}).encode()
    cold_rows: list[report.Row] = []
    cold_text: list[str] = []
    for key, target, env, rounds in (
        ("project-cold-16", f"Home Service GET {FEED_PATH}, cold caches (200)", COLD_ENV, config.rounds),
        (
            "project-cold-view-16",
            f"Home Service GET {FEED_PATH}, cold caches, built by the view (200)",
            COLD_VIEW_ENV,
            1,
        ),
    ):
        cold = serve_project(key, {**serve_env, **env})
        before = services.cold_counts(http_request(cold.port, "GET", "/metrics", headers={}).body.decode())
        runs = [
            bench_target(
                key=f"{key}-r{round_}",
                target=target,
                server=cold,
                path=FEED_PATH,
                headers={},
                settings=settings_low,
                secret="",
                warmup_s=config.warmup_s if round_ == 1 else 0,
                out_dir=out_dir,
                sampler=sampler,
                script=cold_script,
                script_args=[str(tokens_file)],
            )
            for round_ in range(1, rounds + 1)
        ]
        cold_rows.append(dataclasses.replace(median_run(runs, key), connections=LOW_CONNECTIONS))
        after = services.cold_counts(http_request(cold.port, "GET", "/metrics", headers={}).body.decode())
        counts = {name: after.get(name, 0) - before.get(name, 0) for name in after}
        cold.stop()
        served = counts.get("requests", 0)
        per_request = counts.get("renders", 0) / served if served else 0.0
        cold_text.append(
            f"{target}: {served:,} requests (warm-up included), {per_request:.2f} sections rendered per request, "
            f"fast path outcomes: built {counts.get('built', 0):,}, miss {counts.get('miss', 0):,}"
        )
        say(cold_text[-1])
    fragments_left = services.count_prefixed(client, f"{KEY_PREFIX}:*frag:*")
    say(f"cold runs: {fragments_left} fragment keys left in Redis (0: nothing was cached)")

    # 3b. Warm, the reference view alone (the fast path off): what the fast path is measured against.
    view_only = serve_project("project-view", {**serve_env, **VIEW_ONLY_ENV})
    reply = http_request(
        view_only.port, "POST", "/api/v1/auth/token/", body=login, headers={"Content-Type": "application/json"}
    )
    if reply.status != 200:
        raise BenchError(f"POST /api/v1/auth/token/ as {DEMO_USER}: HTTP {reply.status}: {reply.body[:500]!r}")
    token = str(json.loads(reply.body)["access"])
    auth = {"Authorization": f"Bearer {token}"}

    def measure(
        key: str,
        target: str,
        server: Server,
        path: str,
        headers: dict[str, str],
        wrk_settings: WrkSettings | None = None,
        *,
        warm_up: bool = True,
    ) -> report.Row:
        chosen = wrk_settings or settings
        row = bench_target(
            key=key,
            target=target,
            server=server,
            path=path,
            headers=headers,
            settings=chosen,
            secret=token,
            warmup_s=config.warmup_s if warm_up else 0,
            out_dir=out_dir,
            sampler=sampler if server.name != "baseline" else None,
        )
        return dataclasses.replace(row, connections=chosen.connections)

    view_rows = [
        measure("project-view", f"Home Service GET {FEED_PATH}, view only (200)", view_only, FEED_PATH, auth),
        measure(
            "project-view-16",
            f"Home Service GET {FEED_PATH}, view only (200)",
            view_only,
            FEED_PATH,
            auth,
            settings_low,
        ),
    ]
    view_only.stop()

    # 3c. Warm: the project as configured (the fast path answers from the stored document).
    project = serve_project("project", serve_env)
    port = project.port
    feed = http_request(port, "GET", FEED_PATH, headers=auth)
    if feed.status != 200:
        raise BenchError(f"GET {FEED_PATH} as {DEMO_USER}: HTTP {feed.status}: {feed.body[:500]!r}")
    content_type = feed.headers.get("Content-Type", "application/json")
    etag = feed.headers.get("ETag", "")
    document = json.loads(feed.body)
    sections = document.get("sections", [])
    (out_dir / "feed.json").write_bytes(feed.body)
    say(f"feed: {len(feed.body):,} bytes, {len(sections)} sections, {content_type}, ETag {etag or '(none)'}")

    rows: list[report.Row] = []
    if etag:
        conditional = {**auth, "If-None-Match": etag}
        check = http_request(port, "GET", FEED_PATH, headers=conditional)
        if check.status == 304:
            target = f"Home Service GET {FEED_PATH}, If-None-Match (304)"
            rows.append(measure("project-304", target, project, FEED_PATH, conditional))
        else:
            say(f"WARNING: If-None-Match {etag} answered HTTP {check.status}, not 304: no ETag row")
    else:
        say("WARNING: the feed has no ETag: no revalidation row")

    # 4. The baseline: the same bytes from Redis, no framework, same pinning; served beside the
    # project (each idle while the other is loaded), so that the compared rows can alternate.
    client.set(FEED_KEY, feed.body)
    bare_env = {
        **base_env,
        "BENCH_REDIS_URL": config.redis_url,
        "BENCH_FEED_KEY": FEED_KEY,
        "BENCH_FEED_CONTENT_TYPE": content_type,
    }
    bare_port = free_port()
    bare = Server(
        "baseline",
        server_command(BASELINE_APP, bare_port, server_cpu, python),
        port=bare_port,
        env=bare_env,
        log=out_dir / "baseline.log",
    )
    cleanup.append(bare)
    bare.wait_ready("/", headers={})
    same = http_request(bare_port, "GET", "/", headers={})
    if same.body != feed.body or same.headers.get("Content-Type") != content_type:
        raise BenchError("the baseline does not serve the project's feed bytes and content type")
    # The targets compare the project with the baseline, and the machine's speed drifts within
    # minutes: the two alternate, ROUNDS times each, and each row is its median run (by requests
    # per second at 64 connections, the throughput target; by p99 at 16, the latency target).
    warm_target, bare_target = f"Home Service GET {FEED_PATH} (200)", "bare ASGI + Redis (baseline)"
    compared: dict[str, list[report.Row]] = {"baseline": [], "project": [], "baseline-16": [], "project-16": []}
    for round_ in range(1, config.rounds + 1):
        first = round_ == 1
        compared["baseline"].append(measure(f"baseline-r{round_}", bare_target, bare, "/", {}, warm_up=first))
        compared["project"].append(measure(f"project-r{round_}", warm_target, project, FEED_PATH, auth, warm_up=first))
        compared["baseline-16"].append(
            measure(f"baseline-16-r{round_}", bare_target, bare, "/", {}, settings_low, warm_up=first)
        )
        compared["project-16"].append(
            measure(f"project-16-r{round_}", warm_target, project, FEED_PATH, auth, settings_low, warm_up=first)
        )
    bare.stop()
    baseline = median_run(compared["baseline"], "baseline", by="throughput")
    rows[:0] = [
        baseline,
        median_run(compared["baseline-16"], "baseline-16"),
        median_run(compared["project"], "project", by="throughput"),
    ]
    rows.append(median_run(compared["project-16"], "project-16"))
    rows.extend(view_rows)
    rows.extend(cold_rows)
    fast_path = services.fast_path_outcomes(http_request(port, "GET", "/metrics", headers={}).body.decode())
    say(f"fast path outcomes on the warm server: {fast_path}")

    # 4b. Webhook ingestion against the project, after the feed rows (it adds offers).
    ingest_rows = run_ingest_bench(python, wrk_cpu, project.port, webhook_secrets, out_dir)
    project.stop()
    sampler.stop()
    db_peak = sampler.peak()
    if sampler.error:
        say(f"WARNING: counting PostgreSQL connections failed: {sampler.error}")
    say(
        f"PostgreSQL: at most {report.fmt(db_peak, 'd')} connections to {sampler.database} while the project ran "
        f"({len(sampler.samples)} samples, every {sampler.interval_s:g} s)"
    )
    if db_peak is not None and pool_max is not None and db_peak > pool_max:
        say(f"WARNING: more PostgreSQL connections ({db_peak}) than the pools allow ({pool_max})")

    # 5. Report.
    machine = report.machine_info()
    context = {
        "server_command": shlex.join(server_command("APP", 0, server_cpu, python)).replace(
            "--port 0", "--port <free port>"
        ),
        "server_pinning": f"pinned to CPU {server_cpu}" if server_cpu is not None else "not pinned",
        "wrk_pinning": f"pinned to CPU {wrk_cpu}" if wrk_cpu is not None else "not pinned",
        "project_app": PROJECT_APP,
        "baseline_app": BASELINE_APP,
        "wrk_version": wrk_version(wrk),
        "duration_s": config.duration_s,
        "warmup_s": config.warmup_s,
        "postgres_version": postgres_version,
        "redis_version": redis_version,
        "feed_bytes": len(feed.body),
        "feed_sections": len(sections),
        "feed_content_type": content_type,
        "database": db_settings,
        "database_text": pool_text,
        "pool_max_size": pool_max,
        "db_name": sampler.database,
        "db_connections_peak": db_peak,
        "db_samples": len(sampler.samples),
        "db_sample_interval_s": sampler.interval_s,
        "db_sampler_error": sampler.error,
        "load_before": load_before,
        "warnings": warnings,
        "fast_path_outcomes": fast_path,
        "cold_text": COLD_TEXT + f"; {fragments_left} fragment keys were left in Redis after these runs.",
        "cold_counts": cold_text,
        "rounds": config.rounds,
        "ingest_command": shlex.join(ingest_command(python, wrk_cpu)).replace(" --json", ""),
        "render_command": shlex.join(
            [*(["taskset", "-c", str(server_cpu)] if server_cpu is not None else []), python, "-m", "bench.render"]
        ),
    }
    table = report.text_table(rows, baseline)
    ingest_table = report.ingest_text_table(ingest_rows)
    render_table = report.render_text_table(render_rows)
    targets_table = report.targets_text(report.targets(rows, ingest_rows))
    text = f"{table}\n\n{ingest_table}\n\n{render_table}\n\nTargets:\n{targets_table}\n"
    print(f"\n{text}", flush=True)
    (out_dir / "table.txt").write_text(text)
    results = {
        "machine": machine,
        "context": context,
        "rows": report.rows_as_dicts(rows, baseline),
        "render": render_rows,
        "ingest": ingest_rows,
        "targets": report.targets(rows, ingest_rows),
    }
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    say(f"raw results: {out_dir}")
    if config.update_docs:
        section = report.markdown_section(
            rows=rows,
            baseline=baseline,
            machine=machine,
            context=context,
            render_rows=render_rows,
            ingest_rows=ingest_rows,
        )
        report.update_doc(DOC, section)
        say(f"updated {DOC.relative_to(ROOT)}")
    failed = [f"{row.target} at {row.connections} connections" for row in rows if row.result.errors]
    failed += [f"webhook ingestion, {row['case']}" for row in ingest_rows if row["errors"]]
    if failed:
        banner = "!" * 78
        print(f"\n{banner}\n!!! ERRORS during the run, these rows are not valid: {', '.join(failed)}\n{banner}")
        return 1
    return 0


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    signal.signal(signal.SIGTERM, _terminate)
    cleanup: list[Server] = []
    clients: list[redis.Redis] = []
    samplers: list[services.ConnectionSampler] = []
    try:
        return bench(Config.from_env(), cleanup, clients, samplers)
    except (BenchError, services.ServiceError, WrkError) as exc:
        print(f"\nbench: FAILED: {exc}", file=sys.stderr, flush=True)
        return 2
    finally:
        for sampler in samplers:
            sampler.stop()
        for server in reversed(cleanup):
            try:
                server.stop()
            except Exception as exc:  # keep cleaning up
                print(f"bench: could not stop {server.name} (PID {server.process.pid}): {exc}", file=sys.stderr)
        for client in clients:
            try:
                deleted = services.delete_prefixed(client, KEY_PREFIX)
                say(f"Redis: deleted {deleted} {KEY_PREFIX}:* keys")
            except redis.exceptions.RedisError as exc:
                print(f"bench: could not delete the {KEY_PREFIX}:* keys: {exc}", file=sys.stderr)
            finally:
                client.close()
        say("done")


if __name__ == "__main__":
    sys.exit(main())
