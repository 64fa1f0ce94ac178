"""`make bench`, the plan finder: ``POST /api/v1/plans/filter/`` over a catalogue of 5,000 plans.

One run (about a minute with the defaults; docs/benchmarks.md, "The plan finder"):

1. checks PostgreSQL and Redis, drops and recreates its own database (``hs_bench_plans``),
   deletes its Redis keys (prefix ``hs-bench-plans``), installs wrk if it is missing;
2. ``manage.py migrate`` and ``manage.py seed_demo`` (demo users, products and the plan finder's
   questions; ``DEBUG=true`` for the seed only), then tops the catalogue up to ``BENCH_PLANS``
   (5,000) active plans with generated attributes (``python -m bench.plans --seed N``);
3. serves the project with uvicorn pinned to one CPU (production-like settings, as bench/run.py)
   and loads it with wrk pinned to the other, authenticated as alice: the same answers over and
   over (cached), and answers that differ at every request (every request misses the answer
   cache and is matched and ranked; the catalogue index stays built), each at 1 and 16
   connections; the plan filter's fast path (recommendations/plans/filter_fast.py) answers them, and its
   outcomes during each measured run are read from the server's ``/metrics``;
4. the same project with ``PLANS_FAST_PATH=false`` (the view alone), cached answers at 1 and 16
   connections;
5. serves bench/bare_asgi.py with the cached answer's bytes from Redis, same command and
   pinning, at 1 and 16 connections (the baseline);
6. prints the table, writes bench/results/plans-<time>/ and its section of docs/benchmarks.md
   (between ``<!-- plans-bench:start -->`` and ``<!-- plans-bench:end -->``); stops its servers
   and deletes its Redis keys whatever happens.

Environment: BENCH_PLANS_DATABASE_URL, BENCH_REDIS_URL, BENCH_DURATION, BENCH_WARMUP, BENCH_PLANS,
BENCH_UPDATE_DOCS.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from . import report, services
from .run import (
    BASELINE_APP,
    DEMO_PASSWORD,
    DEMO_USER,
    PROJECT_APP,
    ROOT,
    Server,
    cpu_plan,
    display_python,
    free_port,
    http_request,
    run_step,
    say,
    server_command,
)
from .wrk import WrkError, WrkResult, WrkSettings, ensure_wrk, parse_wrk, run_wrk, wrk_version

RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
START_MARK = "<!-- plans-bench:start -->"
END_MARK = "<!-- plans-bench:end -->"

KEY_PREFIX = "hs-bench-plans"
ANSWER_KEY = f"{KEY_PREFIX}:bare:answer"
FILTER_PATH = "/api/v1/plans/filter/"
TARGET_P99_MS = 20.0
CONNECTIONS = (1, 16)
# The cached case: one set of answers, the same at every request.
CACHED_ANSWERS = {"product": "mobile", "budget": 40, "extras": ["5g", "family"]}
# Offsets of the distinct-answers script: the warm-up and the measured run never share answers.
WARMUP_OFFSET, MEASURED_OFFSET = 0, 100_000

CACHED_SCRIPT = """wrk.method = "POST"
wrk.body = '%s'
wrk.headers["Content-Type"] = "application/json"
"""
# Every request different: product and extras change at every request, the budget (20.00 to
# 199.99, in cents) every 25 requests, so 450,000 requests pass before answers repeat.
DISTINCT_SCRIPT = """wrk.headers["Content-Type"] = "application/json"
local counter = 0
local offset = 0
local products = {"mobile", "broadband", "tv", "energy", "any"}
local extras = {'[]', '["5g"]', '["fibre","sports"]', '["5g","family"]', '["sports","green"]'}
function init(args)
  offset = tonumber(args[1]) or 0
end
request = function()
  local n = offset + counter
  counter = counter + 1
  local product = products[(n % 5) + 1]
  local extra = extras[(math.floor(n / 5) % 5) + 1]
  local budget = 20 + (math.floor(n / 25) % 18000) / 100
  local body = string.format('{"answers":{"product":"%s","budget":%.2f,"extras":%s}}', product, budget, extra)
  return wrk.format("POST", nil, nil, body)
end
"""


@dataclass(frozen=True)
class Config:
    database_url: str
    redis_url: str
    duration_s: int
    warmup_s: int
    plans: int
    update_docs: bool

    @classmethod
    def from_env(cls) -> Config:
        return cls(
            database_url=os.environ.get("BENCH_PLANS_DATABASE_URL")
            or "postgres://postgres@127.0.0.1:5432/hs_bench_plans",
            redis_url=os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/0",
            duration_s=services.env_integer("BENCH_DURATION", 10),
            warmup_s=services.env_integer("BENCH_WARMUP", 3),
            plans=services.env_integer("BENCH_PLANS", 5000),
            update_docs=services.env_update_docs(),
        )


@dataclass(frozen=True)
class Row:
    target: str
    case: str  # "cached" | "distinct"
    connections: int
    command: str
    result: WrkResult
    server_cpu_s: float | None
    outcomes: dict[str, int] | None = None  # the fast path's, during the measured run

    @property
    def cpu_ms_per_request(self) -> float | None:
        if self.server_cpu_s is None or not self.result.requests:
            return None
        return self.server_cpu_s * 1000 / self.result.requests


# --- the catalogue ------------------------------------------------------------------------------


def seed_catalogue(total: int) -> int:
    """Top the active plans up to ``total`` with generated ones (deterministic; run inside the
    project, ``python -m bench.plans --seed N``). Returns how many plans are active."""
    import random
    from decimal import Decimal

    import django

    django.setup()
    from products.models import Plan, Product

    rng = random.Random(8)
    products = {p.slug: p for p in Product.objects.filter(active=True)}
    have = Plan.objects.filter(active=True, product__active=True).count()
    tags = {
        "mobile": ["5g", "family", "unlimited", "sim-only", "roaming"],
        "broadband": ["fibre", "gaming", "cable"],
        "tv": ["sports", "movies", "kids"],
        "energy": ["green", "fixed", "dynamic"],
    }
    made = []
    for n in range(max(0, total - have)):
        slug = sorted(products)[n % len(products)]
        attributes: dict[str, Any] = {
            "contract_months": rng.choice([1, 12, 24]),
            "tags": rng.sample(tags.get(slug, ["misc"]), k=rng.randint(1, 2)),
        }
        if slug == "mobile":
            attributes["data_gb"] = rng.choice([None, 5, 10, 20, 50, 100, 200])
        elif slug == "broadband":
            attributes["speed_mbps"] = rng.choice([100, 250, 500, 1000])
        elif slug == "tv":
            attributes["channels"] = rng.randint(40, 250)
        made.append(
            Plan(
                product=products[slug],
                code=f"bench-{n}",
                name=f"Bench plan {n}",
                price_amount=Decimal(rng.randint(499, 19999)) / 100,
                attributes=attributes,
            )
        )
    Plan.objects.bulk_create(made, batch_size=1000)
    return Plan.objects.filter(active=True, product__active=True).count()


def micro(rounds: int = 2000) -> list[dict[str, Any]]:
    """In-process cost of the plan finder's own code, no server (``python -m bench.plans --micro``,
    inside the project): median µs per call over ``rounds`` calls, after a warm-up."""
    import itertools
    import statistics

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User

    from recommendations.plans.cache import enrich_clear
    from recommendations.plans.selectors import catalogue, plans_matching
    from recommendations.plans.services import plans_filter

    user_id = User.objects.get(username=DEMO_USER).pk
    started = time.perf_counter()
    catalogue()
    build_ms = (time.perf_counter() - started) * 1000
    counter = itertools.count()

    def distinct() -> dict[str, Any]:
        n = next(counter)
        return {"product": ["mobile", "broadband", "tv", "energy", "any"][n % 5], "budget": 20 + (n // 5) % 18000 / 100}

    def timed(case: str, call: Any) -> dict[str, Any]:
        for _ in range(200):
            call()
        samples = []
        for _ in range(rounds):
            at = time.perf_counter()
            call()
            samples.append((time.perf_counter() - at) * 1e6)
        return {"case": case, "median_us": statistics.median(samples), "p99_us": sorted(samples)[int(rounds * 0.99)]}

    rows = [
        timed(
            "answer from the cache (check answers, version GET, answer GET)",
            lambda: plans_matching(answers=CACHED_ANSWERS),
        ),
        timed(
            "answer computed (check, version GET, miss, match, rank 20, SET)",
            lambda: plans_matching(answers=distinct()),
        ),
    ]
    settings.PLANS_ENRICH = True
    rows.append(
        timed(
            "plans_filter, cached answer, a refinement already queued (newest request SET, queued mark ADD)",
            lambda: plans_filter(user_id=user_id, answers=CACHED_ANSWERS),
        )
    )

    def first_of_a_burst() -> None:
        enrich_clear(user_id)  # one DEL more than a real first request
        plans_filter(user_id=user_id, answers=CACHED_ANSWERS)

    rows.append(
        timed("plans_filter, cached answer, the refinement queued (a Celery message; plus a DEL)", first_of_a_burst)
    )
    rows.append(
        {"case": "catalogue index built (first request of a version)", "median_us": build_ms * 1000, "p99_us": None}
    )
    return rows


# --- measuring ----------------------------------------------------------------------------------

FAST_PATH_METRIC = 'homeservice_plans_filter_fast_path_requests_total{outcome="'


def fast_path_outcomes(port: int) -> dict[str, int]:
    """The plan filter fast path's request counts by outcome, from the server's /metrics."""
    text = http_request(port, "GET", "/metrics", headers={}).body.decode()
    found: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith(FAST_PATH_METRIC):
            labels, _, value = line.rpartition(" ")
            found[labels.removeprefix(FAST_PATH_METRIC).removesuffix('"}')] = int(float(value))
    return found


def outcomes_text(outcomes: dict[str, int] | None) -> str:
    if outcomes is None:
        return ""
    shown = [f"{name} {count:,}" for name, count in outcomes.items() if count]
    return ", ".join(shown) or "none"


def wrk_command(settings: WrkSettings, url: str, headers: list[str], script: Path, *, args: list[str]) -> list[str]:
    """bench/wrk.py's command with a Lua script (and its arguments after ``--``)."""
    return settings.command("wrk", url, headers, script=str(script), script_args=args)


def measure(
    *,
    server: Server,
    target: str,
    case: str,
    connections: int,
    path: str,
    headers: dict[str, str],
    script: Path,
    config: Config,
    wrk_cpu: int | None,
    token: str,
    out_dir: Path,
    metrics: bool = False,
) -> Row:
    settings = WrkSettings(threads=1, connections=connections, duration_s=config.duration_s, timeout_s=5, cpu=wrk_cpu)
    url = f"http://127.0.0.1:{server.port}{path}"
    lines = [f"{name}: {value}" for name, value in headers.items()]
    timeout = settings.timeout_s + 30
    distinct = case == "distinct"
    # Warm-ups from 0, the measured runs from 100,000 (1 connection) and 1,600,000 (16), i.e.
    # 100,000 and 250,000 modulo 450,000: no measured request repeats an earlier one.
    warm_args = [str(WARMUP_OFFSET)] if distinct else []
    args = [str(MEASURED_OFFSET * connections)] if distinct else []
    warm_settings = WrkSettings(
        threads=1, connections=connections, duration_s=config.warmup_s, timeout_s=5, cpu=wrk_cpu
    )
    say(f"{target}, {connections} connection(s): warm-up {config.warmup_s} s")
    warm = run_wrk(wrk_command(warm_settings, url, lines, script, args=warm_args), timeout_s=config.warmup_s + timeout)
    command = wrk_command(settings, url, lines, script, args=args)
    shown = shlex.join(command).replace(f"{ROOT}/", "")
    shown = shown.replace(token, "<access token>") if token else shown
    say(f"{target}: {shown}")
    counted = fast_path_outcomes(server.port) if metrics else None
    before = server.cpu_seconds()
    output = run_wrk(command, timeout_s=config.duration_s + timeout)
    after = server.cpu_seconds()
    outcomes = None
    if counted is not None:
        now = fast_path_outcomes(server.port)
        outcomes = {name: now.get(name, 0) - counted.get(name, 0) for name in now}
    key = f"{server.name}-{case}-{connections}"
    (out_dir / f"wrk-{key}.txt").write_text(f"$ {shown}\n\n# warm-up\n{warm}\n# measured\n{output}")
    result = parse_wrk(output)
    cpu = after - before if before is not None and after is not None else None
    row = Row(
        target=target,
        case=case,
        connections=connections,
        command=shown,
        result=result,
        server_cpu_s=cpu,
        outcomes=outcomes,
    )
    say(
        f"{target}, {connections} connection(s): {result.requests_per_s:,.0f} req/s, "
        f"p50 {result.latency_p50_ms:.2f} ms, p99 {result.latency_p99_ms:.2f} ms, errors {result.errors}"
        + (f"; fast path: {outcomes_text(outcomes)}" if outcomes is not None else "")
    )
    return row


# --- report -------------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"


def verdicts(rows: list[Row]) -> list[str]:
    lines = []
    for row in rows:
        if row.target.startswith("bare") or row.target.endswith("view only"):
            continue
        p99 = row.result.latency_p99_ms
        met = "met" if p99 <= TARGET_P99_MS and not row.result.errors else "**NOT met**"
        lines.append(f"- {row.target} at {row.connections} connection(s): p99 {_ms(p99)}: {met}")
    return lines


def table(rows: list[Row]) -> list[str]:
    baselines = {row.connections: row for row in rows if row.target.startswith("bare")}
    out = [
        "| target | connections | req/s | p50 | p90 | p99 | ÷ baseline req/s (same connections) "
        "| server CPU per request | bytes/response | errors | fast path outcomes (measured run) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        base = baselines.get(row.connections)
        ratio = row.result.requests_per_s / base.result.requests_per_s if base and base.result.requests_per_s else None
        out.append(
            f"| {row.target} | {row.connections} | {row.result.requests_per_s:,.0f} | {_ms(row.result.latency_p50_ms)} "
            f"| {_ms(row.result.latency_p90_ms)} | {_ms(row.result.latency_p99_ms)} | {report.fmt(ratio, '.3f')} "
            f"| {report.fmt(row.cpu_ms_per_request, '.3f', ' ms')} | {row.result.bytes_per_response:,.0f} "
            f"| {row.result.errors} | {outcomes_text(row.outcomes)} |"
        )
    return out


def markdown(rows: list[Row], context: dict[str, Any]) -> str:
    machine = context["machine"]
    busy = " (the machine was busy: figures are noisy)" if context["load_before"][0] > 0.5 else ""
    lines = [
        START_MARK,
        "### The plan finder (`bench/plans.py`)",
        "",
        f"Generated by `{context['command']}` on {machine['date_utc']}: {machine['nproc']} CPUs "
        f"({machine['cpu_model']}), Linux {machine['kernel']}, Python {machine['python']}; load average "
        f"{context['load_before']} before the run{busy}. PostgreSQL {context['postgres_version']}, Redis "
        f"{context['redis_version']}, {context['wrk_version']}.",
        "",
        *table(rows),
        "",
        f"Target: p99 ≤ {TARGET_P99_MS:.0f} ms with a catalogue of {context['plans']:,} plans:",
        "",
        *verdicts(rows),
        "",
        f"- Catalogue: {context['plans']:,} active plans of 4 active products (the demo's plans and generated "
        f"ones), the demo's 5 questions; answers of {context['answer_plans']} plans at most "
        f"(`PLANS_FILTER_LIMIT`). Cached answer body: {context['answer_bytes']:,} bytes, total "
        f"{context['answer_total']} matching plans.",
        f"- Cached rows: `{json.dumps(CACHED_ANSWERS)}` at every request: the answer comes from Redis. "
        "Distinct rows: every request's answers differ (a Lua script counts through budgets, products "
        "and extras; the warm-up uses other answers than the measured run), so every request misses "
        f"the answer cache and is matched and ranked; {context['answer_keys']:,} answers were in Redis "
        "after the run. The catalogue index was built once per server, before the warm-up.",
        "- The project rows are answered by the plan filter's fast path (recommendations/plans/filter_fast.py, in ASGI "
        "before Django: token checked, body parsed and checked by the view's own parser and serializer, "
        "answers checked, matched and ranked by the plan finder's functions, one `MGET` and one "
        "pipeline to Redis); the last column counts its outcomes during each measured run, read from "
        "the server's `/metrics` (`cached`, `computed`: answered by it; anything else went to the view). "
        "The view-only rows: the same project with `PLANS_FAST_PATH=false`, every request through "
        "Django, DRF, the JWT user lookup and the view.",
        "- Every request also records the user's newest request (a Redis `SET`) and marks a refinement "
        "as queued (`ADD`); one user's requests share a queued refinement, and no worker runs, so after "
        "the first request (and once per `PLANS_ENRICH_DEDUPE_SECONDS`) the mark is found and no Celery "
        "message is sent: the rows measure one user's burst. The in-process table shows what queueing "
        "the task adds to the first request of a burst.",
        f"- Servers (one at a time, {context['server_pinning']}): `{context['server_command']}`, APP being "
        f"`{PROJECT_APP}` (`DEBUG=false`) and `{BASELINE_APP}` (the baseline: the cached answer's bytes, "
        "read from Redis at every request). wrk "
        f"{context['wrk_pinning']}, one thread, each row one {context['duration_s']} s run after a "
        f"{context['warmup_s']} s warm-up.",
        "",
        f"In-process, no server (`{context['micro_command']}`, {context['plans']:,} plans, Redis on this machine; "
        "median and p99 of 2,000 calls after 200 warm-up calls):",
        "",
        "| what | median | p99 |",
        "|---|---:|---:|",
        *[
            f"| {item['case']} | {item['median_us'] / 1000:.3f} ms | "
            f"{'' if item['p99_us'] is None else format(item['p99_us'] / 1000, '.3f') + ' ms'} |"
            for item in context["micro"]
        ],
        "",
        "Exact wrk commands (the scripts are in the run's results directory):",
        "",
        "```sh",
        *[row.command for row in rows],
        "```",
        "",
        END_MARK,
    ]
    return "\n".join(lines)


def update_doc(section: str) -> None:
    text = DOC.read_text()
    if START_MARK in text and END_MARK in text:
        before, rest = text.split(START_MARK, 1)
        after = rest.split(END_MARK, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(text)


# --- the run ------------------------------------------------------------------------------------


def bench(config: Config, cleanup: list[Server], clients: list[redis.Redis]) -> int:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out_dir = RESULTS / f"plans-{stamp}"
    (out_dir / "var" / "static").mkdir(parents=True, exist_ok=True)
    log = out_dir / "prepare.log"
    load_before = [round(x, 2) for x in os.getloadavg()]

    client, redis_version = services.redis_connect(config.redis_url)
    clients.append(client)
    say(f"PostgreSQL: recreating database {services.database_name(config.database_url)}")
    postgres_version = services.recreate_database(config.database_url)
    stale = services.delete_prefixed(client, KEY_PREFIX)
    say(f"Redis {redis_version}: ok ({stale} stale {KEY_PREFIX}:* keys deleted)")
    try:
        wrk = ensure_wrk()
    except WrkError as exc:
        raise services.BenchError(str(exc)) from exc
    server_cpu, wrk_cpu, warnings = cpu_plan()
    for warning in warnings:
        say(f"WARNING: {warning}")
    python = display_python()

    env = services.project_env(
        database_url=config.database_url,
        redis_url=config.redis_url,
        key_prefix=KEY_PREFIX,
        var_dir=str(out_dir / "var"),
    )
    run_step("migrate", [python, "manage.py", "migrate", "--noinput"], env=env, log=log)
    run_step("seed_demo", [python, "manage.py", "seed_demo"], env={**env, "DEBUG": "true"}, log=log)
    run_step("catalogue", [python, "-m", "bench.plans", "--seed", str(config.plans)], env=env, log=log)

    pin = ["taskset", "-c", str(server_cpu)] if server_cpu is not None else []
    micro_command = [*pin, python, "-m", "bench.plans", "--micro"]
    say(f"in-process: {shlex.join(micro_command)}")
    done = subprocess.run(micro_command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise services.BenchError(f"the in-process timing failed:\n{done.stdout}{done.stderr}")
    micro_rows: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    for item in micro_rows:
        say(f"in-process: {item['case']}: median {item['median_us']:,.0f} µs")
    services.delete_prefixed(client, KEY_PREFIX)  # its cached answers and queued tasks

    serve_env = {
        **env,
        **{"DEBUG": "false", "ALLOWED_HOSTS": "127.0.0.1,localhost", "SECURE_SSL_REDIRECT": "false"},
        # One user sends every request: the throttle counts them all and refuses none (its cost is measured).
        "THROTTLE_PLANS_FILTER_RATE": "1000000000/minute",
    }
    port = free_port()
    project = Server(
        "project",
        server_command(PROJECT_APP, port, server_cpu, python),
        port=port,
        env=serve_env,
        log=out_dir / "project.log",
    )
    cleanup.append(project)
    project.wait_ready("/readyz", headers={})
    login = json.dumps({"username": DEMO_USER, "password": DEMO_PASSWORD}).encode()
    reply = http_request(port, "POST", "/api/v1/auth/token/", body=login, headers={"Content-Type": "application/json"})
    if reply.status != 200:
        raise services.BenchError(f"POST /api/v1/auth/token/ as {DEMO_USER}: HTTP {reply.status}: {reply.body[:300]!r}")
    token = str(json.loads(reply.body)["access"])
    auth = {"Authorization": f"Bearer {token}"}
    questions = http_request(port, "GET", "/api/v1/plans/questions/", headers=auth)
    if questions.status != 200:
        raise services.BenchError(f"GET /api/v1/plans/questions/: HTTP {questions.status}: {questions.body[:300]!r}")
    cached_body = json.dumps({"answers": CACHED_ANSWERS})
    answer = http_request(
        port, "POST", FILTER_PATH, body=cached_body.encode(), headers={**auth, "Content-Type": "application/json"}
    )
    if answer.status != 200:
        raise services.BenchError(f"POST {FILTER_PATH}: HTTP {answer.status}: {answer.body[:300]!r}")
    document = json.loads(answer.body)
    say(f"answer: {len(answer.body):,} bytes, {len(document['plans'])} plans of {document['total']} matching")

    cached_script = out_dir / "cached.lua"
    cached_script.write_text(CACHED_SCRIPT % cached_body)
    distinct_script = out_dir / "distinct.lua"
    distinct_script.write_text(DISTINCT_SCRIPT)

    def load(
        server: Server,
        target: str,
        case: str,
        connections: int,
        path: str,
        headers: dict[str, str],
        *,
        metrics: bool = False,
    ) -> Row:
        return measure(
            server=server,
            target=target,
            case=case,
            connections=connections,
            path=path,
            headers=headers,
            script=distinct_script if case == "distinct" else cached_script,
            config=config,
            wrk_cpu=wrk_cpu,
            token=token,
            out_dir=out_dir,
            metrics=metrics,
        )

    rows: list[Row] = []
    for connections in CONNECTIONS:
        rows.append(
            load(
                project,
                f"Home Service POST {FILTER_PATH}, cached answers",
                "cached",
                connections,
                FILTER_PATH,
                auth,
                metrics=True,
            )
        )
        rows.append(
            load(
                project,
                f"Home Service POST {FILTER_PATH}, distinct answers (uncached)",
                "distinct",
                connections,
                FILTER_PATH,
                auth,
                metrics=True,
            )
        )
    project.stop()

    view_port = free_port()
    view_only = Server(
        "view-only",
        server_command(PROJECT_APP, view_port, server_cpu, python),
        port=view_port,
        env={**serve_env, "PLANS_FAST_PATH": "false"},
        log=out_dir / "view-only.log",
    )
    cleanup.append(view_only)
    view_only.wait_ready("/readyz", headers={})
    for connections in CONNECTIONS:
        rows.append(
            load(
                view_only,
                f"Home Service POST {FILTER_PATH}, cached answers, view only",
                "cached",
                connections,
                FILTER_PATH,
                auth,
                metrics=True,
            )
        )
    view_only.stop()
    answer_keys = services.count_prefixed(client, f"{KEY_PREFIX}:*plans:filter:*")

    client.set(ANSWER_KEY, answer.body)
    bare_port = free_port()
    bare_env = {
        **services.outside_env(),
        "BENCH_REDIS_URL": config.redis_url,
        "BENCH_FEED_KEY": ANSWER_KEY,
        "BENCH_FEED_CONTENT_TYPE": "application/json",
    }
    bare = Server(
        "baseline",
        server_command(BASELINE_APP, bare_port, server_cpu, python),
        port=bare_port,
        env=bare_env,
        log=out_dir / "baseline.log",
    )
    cleanup.append(bare)
    bare.wait_ready("/", headers={})
    baselines = [
        load(bare, "bare ASGI + Redis (baseline), the cached answer's bytes", "cached", connections, "/", {})
        for connections in CONNECTIONS
    ]
    bare.stop()
    rows = [*baselines, *rows]
    rows.sort(key=lambda row: (row.connections, not row.target.startswith("bare")))

    machine = report.machine_info()
    context = {
        "machine": machine,
        "command": ".venv/bin/python -m bench.plans",
        "load_before": load_before,
        "postgres_version": postgres_version,
        "redis_version": redis_version,
        "wrk_version": wrk_version(wrk),
        "plans": config.plans,
        "answer_plans": len(document["plans"]),
        "answer_total": document["total"],
        "answer_bytes": len(answer.body),
        "answer_keys": answer_keys,
        "server_pinning": f"pinned to CPU {server_cpu}" if server_cpu is not None else "not pinned",
        "wrk_pinning": f"pinned to CPU {wrk_cpu}" if wrk_cpu is not None else "not pinned",
        "server_command": shlex.join(server_command("APP", 0, server_cpu, python)).replace(
            "--port 0", "--port <free port>"
        ),
        "duration_s": config.duration_s,
        "warmup_s": config.warmup_s,
        "micro": micro_rows,
        "micro_command": shlex.join(micro_command),
    }
    text = "\n".join([*table(rows), "", *verdicts(rows)])
    print(f"\n{text}\n", flush=True)
    (out_dir / "table.md").write_text(text + "\n")
    (out_dir / "results.json").write_text(
        json.dumps(
            {
                "context": context,
                "rows": [
                    {
                        "target": r.target,
                        "case": r.case,
                        "connections": r.connections,
                        "command": r.command,
                        "server_cpu_s": r.server_cpu_s,
                        **r.result.as_dict(),
                    }
                    for r in rows
                ],
            },
            indent=2,
        )
        + "\n"
    )
    say(f"raw results: {out_dir}")
    if config.update_docs:
        update_doc(markdown(rows, context))
        say(f"updated {DOC.relative_to(ROOT)}")
    failed = [f"{row.target} at {row.connections}" for row in rows if row.result.errors]
    if failed:
        print(f"\n!!! ERRORS during the run, these rows are not valid: {', '.join(failed)}", flush=True)
        return 1
    return 0


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, metavar="N", help="top the catalogue up to N plans (inside the project)")
    parser.add_argument("--micro", action="store_true", help="time the plan finder's code in-process, as JSON")
    options = parser.parse_args()
    if options.micro:
        print(json.dumps(micro()), flush=True)
        return 0
    if options.seed:
        print(f"catalogue: {seed_catalogue(options.seed)} active plans", flush=True)
        return 0
    signal.signal(signal.SIGTERM, _terminate)
    cleanup: list[Server] = []
    clients: list[redis.Redis] = []
    try:
        return bench(Config.from_env(), cleanup, clients)
    except (services.BenchError, services.ServiceError, WrkError) as exc:
        print(f"\nbench: FAILED: {exc}", file=sys.stderr, flush=True)
        return 2
    finally:
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
