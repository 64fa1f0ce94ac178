"""The bench's results: the machine, the table (terminal and Markdown) and docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from .wrk import WrkResult

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"

PACKAGES = ("django", "djangorestframework", "djangorestframework-simplejwt", "uvicorn", "uvloop", "httptools", "redis")


@dataclass(frozen=True)
class Row:
    key: str
    target: str
    command: str  # the exact wrk command, the access token replaced by a placeholder
    result: WrkResult
    server_cpu_s: float | None = None  # CPU time the server process used during the measured run
    db_connections_peak: int | None = None  # most PostgreSQL connections sampled during the measured run
    connections: int = 64  # wrk connections; ratios compare with the baseline row at the same count
    # When the row is the median of several rounds (bench/run.py ``median_run``): every round's
    # requests per second and p99, and which of the two chose the median.
    rounds: list[tuple[float, float]] | None = None
    median_by: str = ""

    @property
    def cpu_ms_per_request(self) -> float | None:
        if self.server_cpu_s is None or not self.result.requests:
            return None
        return self.server_cpu_s * 1000 / self.result.requests

    @property
    def cpu_busy(self) -> float | None:
        """Share of one CPU the server used during the run (1.0: it had its core to itself)."""
        if self.server_cpu_s is None or not self.result.duration_s:
            return None
        return self.server_cpu_s / self.result.duration_s


def fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def fmt_ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def fmt_ratio(value: float | None) -> str:
    """Two decimals, three below 0.1 so that small ratios still differ."""
    return fmt(value, ".2f" if value is None or value >= 0.1 else ".3f")


def describe_database(settings: dict[str, Any]) -> str:
    """The served project's PostgreSQL connection handling, from ``bench.run.database_settings``."""
    pool = settings.get("pool")
    conn_max_age = settings.get("conn_max_age")
    if isinstance(pool, dict):
        parts = [f"min {pool['min_size']}"] if "min_size" in pool else []
        parts.append(f"max {pool.get('max_size', '?')} per process")
        if "timeout" in pool:
            parts.append(f"timeout {pool['timeout']:g} s")
        text = "psycopg pool, " + ", ".join(parts)
    elif pool:
        text = "psycopg pool with psycopg_pool's default sizes"
    else:
        text = "no pool, a new connection per request"
    build = settings.get("build_pool")
    builder = f"; the fast path's builder: an asyncio pool of at most {build} per process" if build else ""
    return f"{text}, CONN_MAX_AGE={conn_max_age}{builder}"


def pool_max_size(settings: dict[str, Any]) -> int | None:
    """The most connections one server process may hold: Django's pool and the builder's."""
    pool = settings.get("pool")
    if not (isinstance(pool, dict) and "max_size" in pool):
        return None
    return int(pool["max_size"]) + int(settings.get("build_pool") or 0)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def machine_info() -> dict[str, Any]:
    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "packages": package_versions(),
    }


def baseline_for(row: Row, rows: list[Row], baseline: Row | None) -> Row | None:
    """The baseline row measured at ``row``'s connection count, else ``baseline``."""
    for candidate in rows:
        if candidate.key.startswith("baseline") and candidate.connections == row.connections:
            return candidate
    return baseline


def _ratio(row: Row, baseline: Row | None) -> float | None:
    if baseline is None or baseline.result.requests_per_s <= 0:
        return None
    return row.result.requests_per_s / baseline.result.requests_per_s


def _cpu_ratio(row: Row, baseline: Row | None) -> float | None:
    """Baseline's server CPU per request over this row's: the ratio if each had a core to itself."""
    if baseline is None or baseline.cpu_ms_per_request is None or not row.cpu_ms_per_request:
        return None
    return baseline.cpu_ms_per_request / row.cpu_ms_per_request


def _errors_text(result: WrkResult) -> str:
    if not result.errors:
        return "0"
    sockets = ", ".join(f"{kind} {n}" for kind, n in result.socket_errors.items() if n)
    parts = [f"{result.non_2xx_3xx} non-2xx/3xx"] if result.non_2xx_3xx else []
    if sockets:
        parts.append(f"socket: {sockets}")
    return "; ".join(parts)


def rows_as_dicts(rows: list[Row], baseline: Row | None) -> list[dict[str, Any]]:
    return [
        {
            "key": r.key,
            "target": r.target,
            "command": r.command,
            "connections": r.connections,
            "ratio": _ratio(r, baseline_for(r, rows, baseline)),
            "cpu_ratio": _cpu_ratio(r, baseline_for(r, rows, baseline)),
            "server_cpu_s": r.server_cpu_s,
            "server_cpu_ms_per_request": r.cpu_ms_per_request,
            "server_cpu_busy": r.cpu_busy,
            "db_connections_peak": r.db_connections_peak,
            "rounds": [{"requests_per_s": rps, "latency_p99_ms": p99} for rps, p99 in r.rounds or []],
            "median_by": r.median_by,
            **r.result.as_dict(),
        }
        for r in rows
    ]


def text_table(rows: list[Row], baseline: Row | None) -> str:
    columns = ("conns", "req/s", "p50", "p99", "÷ baseline", "CPU/req", "÷ by CPU", "CPU busy", "bytes/resp")
    header = f"{'target':<52}" + "".join(f"{c:>12}" for c in columns) + "  errors"
    lines = [header, "-" * len(header)]
    for row in rows:
        r = row.result
        base = baseline_for(row, rows, baseline)
        cells = (
            str(row.connections),
            f"{r.requests_per_s:,.0f}",
            fmt_ms(r.latency_p50_ms),
            fmt_ms(r.latency_p99_ms),
            fmt_ratio(_ratio(row, base)),
            fmt(row.cpu_ms_per_request, ".3f", " ms"),
            fmt_ratio(_cpu_ratio(row, base)),
            fmt(row.cpu_busy, ".0%"),
            f"{r.bytes_per_response:,.0f}",
        )
        errors = f"!!! {_errors_text(r)} !!!" if r.errors else "0"
        lines.append(f"{row.target:<52}" + "".join(f"{c:>12}" for c in cells) + f"  {errors}")
    return "\n".join(lines)


def _by_key(rows: list[Row]) -> dict[str, Row]:
    return {row.key: row for row in rows}


def targets(rows: list[Row], ingest_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The performance issue's targets, each with its figure and whether it was met (None: no target)."""
    found = _by_key(rows)
    out: list[dict[str, Any]] = []
    warm, base = found.get("project"), found.get("baseline")
    if warm and base and base.result.requests_per_s:
        share = warm.result.requests_per_s / base.result.requests_per_s
        out.append(
            {
                "target": f"warm feed at {warm.connections} connections: at least 50% of the baseline's req/s",
                "figure": f"{share:.1%} ({warm.result.requests_per_s:,.0f} against {base.result.requests_per_s:,.0f})",
                "met": share >= 0.5,
            }
        )
    row, base_low = found.get("project-16"), found.get("baseline-16")
    if row and base_low and base_low.result.latency_p99_ms:
        times = row.result.latency_p99_ms / base_low.result.latency_p99_ms
        out.append(
            {
                "target": f"warm feed p99 at {row.connections} connections: at most 2x the baseline's",
                "figure": f"{fmt_ms(row.result.latency_p99_ms)} against {fmt_ms(base_low.result.latency_p99_ms)} "
                f"({times:,.1f}x)",
                "met": times <= 2.0,
            }
        )
    cold = found.get("project-cold-16")
    if cold and cold.result.latency_p99_ms:
        out.append(
            {
                "target": f"cold feed (every request misses every cache) p99 at {cold.connections} connections: "
                "at most 60 ms",
                "figure": fmt_ms(cold.result.latency_p99_ms),
                "met": cold.result.latency_p99_ms <= 60.0,
            }
        )
    for ingest in ingest_rows:
        if ingest["batch_size"] > 1:
            out.append(
                {
                    "target": f"webhook ingestion in {ingest['case']}: at least 1,000 events/s",
                    "figure": f"{ingest['events_per_s']:,.0f} events/s",
                    "met": ingest["events_per_s"] >= 1000 and not ingest["errors"],
                }
            )
    return out


def _outcomes(outcomes: dict[str, int] | None) -> str:
    if not outcomes:
        return "not read"
    return ", ".join(f"{name} {count:,}" for name, count in outcomes.items())


def _verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("met" if met else "NOT met")


def targets_text(items: list[dict[str, Any]]) -> str:
    return "\n".join(f"{_verdict(t['met']):>8}  {t['target']}: {t['figure']}" for t in items)


def ingest_text_table(rows: list[dict[str, Any]]) -> str:
    header = (
        f"{'webhook ingestion':<28}{'conc.':>6}{'requests':>10}{'events':>9}{'events/s':>11}"
        f"{'req/s':>9}{'p50':>10}{'p99':>10}  errors / outcomes"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['case']:<28}{r['concurrency']:>6}{r['requests']:>10,}{r['events']:>9,}{r['events_per_s']:>11,.0f}"
            f"{r['requests_per_s']:>9,.0f}{fmt_ms(r['latency_p50_ms']):>10}{fmt_ms(r['latency_p99_ms']):>10}"
            f"  {r['errors']} / {r['outcomes']}"
        )
    return "\n".join(lines)


def ingest_markdown(rows: list[dict[str, Any]], context: dict[str, Any]) -> list[str]:
    if not rows:
        return []
    out = [
        "#### Webhook ingestion (`POST /api/v1/products/<slug>/events/`, signed)",
        "",
        "| case | concurrency | requests | events | events/s | requests/s | p50 | p99 | errors | outcomes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        errors = f"**⚠ {r['errors']} ({r['statuses']})**" if r["errors"] else "0"
        outcomes = ", ".join(f"{name} {count:,}" for name, count in sorted(r["outcomes"].items()))
        out.append(
            f"| {r['case']} | {r['concurrency']} | {r['requests']:,} | {r['events']:,} | {r['events_per_s']:,.0f} | "
            f"{r['requests_per_s']:,.0f} | {fmt_ms(r['latency_p50_ms'])} | {fmt_ms(r['latency_p99_ms'])} | "
            f"{errors} | {outcomes} |"
        )
    out += [
        "",
        f"- `{context.get('ingest_command', 'python -m bench.ingest')}` against the warm project server after its "
        "feed rows: pre-signed `offer.upserted` events (Standard Webhooks), one asyncio httpx client, one worker "
        "per (user, product) stream posting its requests in sequence order.",
        "",
    ]
    return out


def render_text_table(rows: list[dict[str, Any]]) -> str:
    """bench/render.py's rows (``--json``) for the terminal."""
    header = f"{'render benchmark':<62}{'sections/s':>12}{'µs/section':>12}{'min-max µs':>16}{'nodes':>7}  target"
    lines = [header, "-" * len(header)]
    for r in rows:
        spread = f"{r['us_min']:.0f} to {r['us_max']:.0f}"
        lines.append(
            f"{r['case']:<62}{r['sections_per_s']:>12,.0f}{r['us_per_section']:>12.0f}{spread:>16}{r['nodes']:>7}"
            f"  {_render_verdict(r)}"
        )
    return "\n".join(lines)


def _render_verdict(row: dict[str, Any]) -> str:
    return f"{'met' if row['meets_target'] else 'MISSED'} (< {row['target_us']:,.0f} µs)"


def render_markdown(rows: list[dict[str, Any]], context: dict[str, Any]) -> list[str]:
    """The render micro-benchmark's part of the generated section."""
    if not rows:
        return []
    out = [
        "#### Rendering one section, in-process",
        "",
        "| case | sections/s | µs per section (median batch) | fastest to slowest batch | nodes | target: under 1 ms |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['case']} | {r['sections_per_s']:,.0f} | {r['us_per_section']:.0f} µs | "
            f"{r['us_min']:.0f} to {r['us_max']:.0f} µs | {r['nodes']} | {_render_verdict(r)} |"
        )
    first = rows[0]
    out += [
        "",
        f"- `{context.get('render_command', 'python -m bench.render')}`, before the servers started: "
        f"{first['renders']:,} timed renders per case in batches, after a warm-up.",
        "",
    ]
    return out


def markdown_section(
    *,
    rows: list[Row],
    baseline: Row | None,
    machine: dict[str, Any],
    context: dict[str, Any],
    render_rows: list[dict[str, Any]] | None = None,
    ingest_rows: list[dict[str, Any]] | None = None,
) -> str:
    """The generated part of docs/benchmarks.md, markers included."""
    out = [
        BEGIN,
        "<!-- Written by `make bench` (bench/run.py): everything up to bench:end is replaced at every run. -->",
        "",
        f"### Latest run: {machine['date_utc']}",
        "",
        "| target | connections | req/s | p50 | p99 | ÷ bare ASGI + Redis (same connections) "
        "| server CPU per request | ÷ by CPU per request | server CPU busy | bytes/response | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        r = row.result
        base = baseline_for(row, rows, baseline)
        ratio = _ratio(row, base)
        errors = f"**⚠ {_errors_text(r)}: this row is not valid**" if r.errors else "0"
        out.append(
            f"| {row.target} | {row.connections} | {r.requests_per_s:,.0f} | "
            f"{fmt_ms(r.latency_p50_ms)} | {fmt_ms(r.latency_p99_ms)} | "
            f"{fmt_ratio(ratio)} | {fmt(row.cpu_ms_per_request, '.3f', ' ms')} | "
            f"{fmt_ratio(_cpu_ratio(row, base))} | {fmt(row.cpu_busy, '.0%')} | "
            f"{r.bytes_per_response:,.0f} | {errors} |"
        )
    items = targets(rows, ingest_rows or [])
    if items:
        out += ["", "Targets:", ""]
        out += [f"- {t['target']}: {t['figure']}: **{_verdict(t['met'])}**" for t in items]
    if any(row.result.errors for row in rows):
        out += ["", "**⚠ Some rows had errors (see the last column); their figures do not measure the target.**"]
    packages = ", ".join(f"{name} {version}" for name, version in machine["packages"].items())
    out += [
        "",
        f"- Machine: {machine['nproc']} CPUs ({machine['cpu_model']}), Linux {machine['kernel']}, "
        f"Python {machine['python']}; load average {' / '.join(map(str, context['load_before']))} (1/5/15 min) "
        "before the run.",
        f"- Servers (one loaded at a time, {context['server_pinning']}): `{context['server_command']}`, "
        f"APP being `{context['project_app']}` (the project: `DEBUG=false`; PostgreSQL: "
        f"{context['database_text']}) and `{context['baseline_app']}` (the baseline).",
        f"- Cold caches rows: {context.get('cold_text', 'n/a')}",
        _rounds_line(rows, context),
        *(f"- {line}." for line in context.get("cold_counts", [])),
        "- View-only rows: the same project with `FEED_FAST_PATH=false`, so every request goes through "
        "Django, DRF and the reference view (warm fragment caches).",
        f"- Fast path outcomes on the warm server (from its `/metrics`, all its requests): "
        f"{_outcomes(context.get('fast_path_outcomes'))}.",
        _connections_line(rows, context),
        f"- Load: {context['wrk_version']}, {context['wrk_pinning']}; each row is one "
        f"{context['duration_s']} s run after a {context['warmup_s']} s warm-up run with the same settings "
        "(later rounds of a target without another warm-up).",
        f"- Services: PostgreSQL {context['postgres_version']}, Redis {context['redis_version']}.",
        f"- Payload: alice's feed, {context['feed_bytes']:,} bytes, {context['feed_sections']} sections, "
        f"`{context['feed_content_type']}`.",
        f"- Packages: {packages}.",
        "",
        "Exact wrk commands:",
        "",
        "```sh",
        *(row.command for row in rows),
        "```",
        "",
        *ingest_markdown(ingest_rows or [], context),
        *render_markdown(render_rows or [], context),
        END,
    ]
    return "\n".join(out)


def _rounds_line(rows: list[Row], context: dict[str, Any]) -> str:
    rounds = [row for row in rows if row.rounds and len(row.rounds) > 1]
    if not rounds:
        return "- Rounds: every row is one run."

    def runs(row: Row) -> str:
        if row.median_by == "throughput":
            return ", ".join(f"{rps:,.0f} req/s" for rps, _ in row.rounds or [])
        return ", ".join(f"p99 {fmt_ms(p99)}" for _, p99 in row.rounds or [])

    each = "; ".join(f"{row.target} at {row.connections}: {runs(row)}" for row in rounds)
    return (
        f"- Rounds: the baseline's and the warm feed's 200 rows alternate, {context.get('rounds')} runs each at each "
        "number of connections (both servers up, one loaded at a time; the first run of each after a warm-up), and "
        "the cold row runs as often; a row shown is its median run, by requests per second at 64 connections and by "
        f"p99 at 16. Every run: {each}."
    )


def _connections_line(rows: list[Row], context: dict[str, Any]) -> str:
    interval = f"sampled every {context['db_sample_interval_s']:g} s from `pg_stat_activity`"
    if context.get("db_sampler_error") or context.get("db_connections_peak") is None:
        reason = context.get("db_sampler_error") or "no samples"
        return f"- PostgreSQL connections to `{context['db_name']}`: not counted ({reason})."
    during = "; ".join(
        f"{row.target}: {row.db_connections_peak}" for row in rows if row.db_connections_peak is not None
    )
    bound = context.get("pool_max_size")
    verdict = ""
    if bound is not None:
        over = context["db_connections_peak"] > bound
        verdict = f" **⚠ more than the pools' {bound}**" if over else f" (the pools allow {bound})"
    return (
        f"- PostgreSQL connections to `{context['db_name']}` ({interval}, {context['db_samples']} samples): "
        f"at most {context['db_connections_peak']} while the project was served{verdict}; "
        f"during the measured runs: {during}."
    )


def update_doc(path: Path, section: str) -> None:
    """Replace the generated section of ``path`` (between the markers), or append it."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start, end = text.find(BEGIN), text.find(END)
    if start != -1 and end > start:
        text = text[:start] + section + text[end + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
