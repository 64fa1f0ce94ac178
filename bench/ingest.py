"""Webhook ingestion rate: signed product events posted to a running project, single and in batches.

Run by bench/run.py against the served project (``python -m bench.ingest --json``), pinned to the
load generator's CPU. Everything is prepared before the clock starts: the events, their bodies and
their Standard Webhooks signatures. Then one asyncio httpx client posts them at a fixed
concurrency: one worker per (user, product) stream (the demo's 3 users x 4 products = 12), each
posting its stream's requests in sequence order, so that no event arrives after a newer one of
its stream and each is applied (not acknowledged as ``stale``). The outcomes the server reports
are counted to show it.

Environment: BENCH_INGEST_BASE_URL (``http://127.0.0.1:<port>``), BENCH_INGEST_SECRETS (JSON:
product slug -> webhook secret), BENCH_INGEST_SINGLES (requests per stream, one event each,
default 200), BENCH_INGEST_BATCHES (requests per stream, BENCH_INGEST_BATCH_SIZE events each,
defaults 10 and 100).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

USERS = ("alice", "bob", "carol")
TIMEOUT_S = 30.0


def _event(run: str, slug: str, user: str, sequence: int) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"bench-{run}-{slug}-{user}-{sequence}",
        "source": f"https://{slug}.example.com",
        "type": "offer.upserted",
        "time": datetime.now(tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "subject": user,
        "sequence": sequence,
        "data": {
            "id": f"bench-{sequence % 10}",
            "title": f"Bench offer {sequence % 10}",
            "body": "Posted by make bench",
            "price": {"amount": "19.99", "currency": "EUR", "period": "month"},
            "cta_label": "Upgrade",
            "cta_url": "https://example.com/upgrade",
            "priority": 1,
        },
    }


def prepare(
    secrets: dict[str, str], *, run: str, requests_per_stream: int, batch_size: int, first_sequence: int
) -> list[list[tuple[str, bytes, dict[str, str], int]]]:
    """Per stream, its signed requests in order: (path, body, headers, events)."""
    streams: list[list[tuple[str, bytes, dict[str, str], int]]] = []
    at = datetime.now(tz=UTC)
    for slug, secret in sorted(secrets.items()):
        signer = Webhook(secret)
        for user in USERS:
            requests = []
            sequence = first_sequence
            for number in range(requests_per_stream):
                events = [_event(run, slug, user, sequence + k) for k in range(batch_size)]
                sequence += batch_size
                payload: Any = events[0] if batch_size == 1 else events
                body = json.dumps(payload, separators=(",", ":")).encode()
                msg_id = f"msg-bench-{run}-{slug}-{user}-{number}"
                headers = {
                    "Content-Type": "application/json" if batch_size == 1 else "application/cloudevents-batch+json",
                    "webhook-id": msg_id,
                    "webhook-timestamp": str(int(at.timestamp())),
                    "webhook-signature": signer.sign(msg_id, at, body.decode()),
                }
                requests.append((f"/api/v1/products/{slug}/events/", body, headers, batch_size))
            streams.append(requests)
    return streams


async def _post_all(base_url: str, streams: list[list[tuple[str, bytes, dict[str, str], int]]]) -> dict[str, Any]:
    statuses: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []
    events_ok = 0
    limits = httpx.Limits(max_connections=len(streams), max_keepalive_connections=len(streams))
    async with httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT_S, limits=limits) as client:

        async def worker(requests: list[tuple[str, bytes, dict[str, str], int]]) -> None:
            nonlocal events_ok
            for path, body, headers, count in requests:
                started = time.perf_counter()
                try:
                    response = await client.post(path, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    statuses[exc.__class__.__name__] += 1
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[str(response.status_code)] += 1
                if 200 <= response.status_code < 300:
                    events_ok += count
                    for result in response.json().get("results", []):
                        outcomes[str(result.get("outcome"))] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(requests) for requests in streams))
        elapsed = time.perf_counter() - started
    requests_total = sum(len(requests) for requests in streams)
    ordered = sorted(latencies)
    return {
        "concurrency": len(streams),
        "requests": requests_total,
        "events": sum(count for requests in streams for *_, count in requests),
        "events_accepted": events_ok,
        "seconds": elapsed,
        "events_per_s": events_ok / elapsed if elapsed else 0.0,
        "requests_per_s": requests_total / elapsed if elapsed else 0.0,
        "latency_p50_ms": statistics.median(ordered) * 1000 if ordered else 0.0,
        "latency_p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000 if ordered else 0.0,
        "statuses": dict(statuses),
        "outcomes": dict(outcomes),
        "errors": sum(n for status, n in statuses.items() if not status.startswith("2")),
    }


def run(base_url: str, secrets: dict[str, str], *, singles: int, batches: int, batch_size: int) -> list[dict[str, Any]]:
    run_id = datetime.now(tz=UTC).strftime("%H%M%S")
    rows = []
    sequence = 10_000_000  # above any sequence the demo data or an earlier run used
    for case, per_stream, size in (("single events", singles, 1), (f"batches of {batch_size}", batches, batch_size)):
        streams = prepare(secrets, run=run_id, requests_per_stream=per_stream, batch_size=size, first_sequence=sequence)
        sequence += per_stream * size
        result = asyncio.run(_post_all(base_url, streams))
        rows.append({"case": case, "batch_size": size, **result})
    return rows


def main() -> int:
    base_url = os.environ["BENCH_INGEST_BASE_URL"]
    secrets: dict[str, str] = json.loads(os.environ["BENCH_INGEST_SECRETS"])
    rows = run(
        base_url,
        secrets,
        singles=int(os.environ.get("BENCH_INGEST_SINGLES", "200")),
        batches=int(os.environ.get("BENCH_INGEST_BATCHES", "10")),
        batch_size=int(os.environ.get("BENCH_INGEST_BATCH_SIZE", "100")),
    )
    if "--json" in sys.argv:
        print(json.dumps(rows))
    else:
        for row in rows:
            print(
                f"{row['case']}: {row['events_per_s']:,.0f} events/s ({row['requests_per_s']:,.0f} requests/s, "
                f"p99 {row['latency_p99_ms']:.0f} ms), errors {row['errors']}, outcomes {row['outcomes']}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
