"""PostgreSQL and Redis for the bench: reachability checks, a fresh database, its own Redis keys."""

from __future__ import annotations

import os
import re
import secrets
import string
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from psycopg import sql

PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
REDIS_START = (
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no '
    "--dir /var/lib/redis --logfile /var/log/redis/ci.log"
)


class ServiceError(RuntimeError):
    """PostgreSQL or Redis is unreachable or refused what the bench needs."""


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def database_name(database_url: str) -> str:
    name = urlsplit(database_url).path.lstrip("/")
    if not name:
        raise ServiceError(f"no database name in {_redact(database_url)}")
    return name


def maintenance_url(database_url: str) -> str:
    """The same server's ``postgres`` maintenance database."""
    return urlunsplit(urlsplit(database_url)._replace(path="/postgres"))


def recreate_database(database_url: str) -> str:
    """Drop and create the bench's database through the ``postgres`` maintenance database.

    Returns the server version. Only a database whose name contains ``bench`` is dropped, so a
    mistyped BENCH_DATABASE_URL cannot wipe a real database.
    """
    name = database_name(database_url)
    if "bench" not in name:
        raise ServiceError(
            f"refusing to drop database {name!r}: the bench drops and recreates its database at every run, "
            "so its name must contain 'bench' (default: hs_bench)"
        )
    maintenance = maintenance_url(database_url)
    try:
        conn = psycopg.connect(maintenance, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise ServiceError(
            f"PostgreSQL is not reachable at {_redact(maintenance)}: {str(exc).strip()}\n"
            f"Start it with: {PG_START}\n(or point BENCH_DATABASE_URL at a running server)"
        ) from exc
    with conn:
        version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        force = sql.SQL(" WITH (FORCE)") if conn.info.server_version >= 130000 else sql.SQL("")
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)) + force)
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return version


def redis_connect(redis_url: str) -> tuple[redis.Redis, str]:
    """A client for the bench's Redis and the server's version; a clear error when it is down."""
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=10)
    try:
        client.ping()
        info = client.info("server")
    except redis.exceptions.RedisError as exc:
        client.close()
        raise ServiceError(
            f"Redis is not reachable at {_redact(redis_url)}: {exc}\n"
            f"Start it with: {REDIS_START}\n(or point BENCH_REDIS_URL at a running server)"
        ) from exc
    return client, str(info.get("redis_version", "unknown"))


def delete_prefixed(client: redis.Redis, prefix: str) -> int:
    """Delete every key under ``<prefix>:`` (SCAN + DEL; never FLUSHDB). Returns how many."""
    pattern = re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + ":*"
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 500:
            deleted += int(client.delete(*batch))
            batch.clear()
    if batch:
        deleted += int(client.delete(*batch))
    return deleted


def count_prefixed(client: redis.Redis, pattern: str) -> int:
    """How many keys match ``pattern`` (SCAN)."""
    return sum(1 for _ in client.scan_iter(match=pattern, count=1000))


@dataclass(frozen=True)
class ConnectionSample:
    at: float  # time.monotonic()
    count: int


class ConnectionSampler:
    """Counts the PostgreSQL connections to one database (``pg_stat_activity``) in a thread.

    It connects to the ``postgres`` maintenance database, so its own connection is not counted.
    """

    def __init__(self, database_url: str, *, interval_s: float = 0.25) -> None:
        self.database = database_name(database_url)
        self.interval_s = interval_s
        self.samples: list[ConnectionSample] = []
        self.error: str | None = None
        self._url = maintenance_url(database_url)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-connection-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def peak(self, since: float | None = None, until: float | None = None) -> int | None:
        """The largest count sampled between two ``time.monotonic()`` values; None without samples."""
        counts = [
            s.count for s in list(self.samples) if (since is None or s.at >= since) and (until is None or s.at <= until)
        ]
        return max(counts) if counts else None

    def _run(self) -> None:
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
        try:
            with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as conn:
                while not self._stop.is_set():
                    row = conn.execute(query, (self.database,)).fetchone()
                    self.samples.append(ConnectionSample(time.monotonic(), int(row[0]) if row else 0))
                    self._stop.wait(self.interval_s)
        except psycopg.Error as exc:
            self.error = str(exc).strip() or exc.__class__.__name__


def fast_path_outcomes(metrics_text: str) -> dict[str, int]:
    """The feed fast path's request counts by outcome, from the server's /metrics."""
    prefix = 'homeservice_feed_fast_path_requests_total{outcome="'
    found: dict[str, int] = {}
    for line in metrics_text.splitlines():
        if line.startswith(prefix):
            labels, _, value = line.rpartition(" ")
            found[labels.removeprefix(prefix).removesuffix('"}')] = int(float(value))
    return found


def cold_counts(metrics_text: str) -> dict[str, int]:
    """From a server's /metrics: the home feed requests the fast path saw, how many it built or
    left to the view, and the fragments rendered."""
    outcomes = fast_path_outcomes(metrics_text)
    renders = 0
    for line in metrics_text.splitlines():
        if line.startswith("homeservice_fragment_renders_total "):
            renders = int(float(line.rpartition(" ")[2]))
    return {
        "requests": sum(outcomes.values()),
        "built": outcomes.get("built", 0),
        "miss": outcomes.get("miss", 0),
        "renders": renders,
    }


class BenchError(RuntimeError):
    """A step failed; the message says which and what to do."""


def env_integer(name: str, default: int) -> int:
    """A whole number of at least 1 from the environment (``default`` when unset)."""
    raw = os.environ.get(name, "")
    try:
        value = int(raw) if raw else default
    except ValueError as exc:
        raise BenchError(f"{name} must be a whole number, got {raw!r}") from exc
    if value < 1:
        raise BenchError(f"{name} must be at least 1, got {value}")
    return value


def env_update_docs() -> bool:
    """``BENCH_UPDATE_DOCS``: whether a run rewrites its section of docs/benchmarks.md."""
    return os.environ.get("BENCH_UPDATE_DOCS", "true").strip().lower() not in ("0", "false", "no")


def outside_env() -> dict[str, str]:
    """This process's environment without the project's own settings (a developer's
    ``DATABASE_URL`` or ``LIVE_*`` must not reach the servers a benchmark starts)."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "HOMESERVICE_", "LIVE_")) and key not in ("DATABASE_URL", "REDIS_URL")
    }


def project_env(*, database_url: str, redis_url: str, key_prefix: str, var_dir: str) -> dict[str, str]:
    """The environment a benchmark's project processes run with: its own database, Redis key
    prefix, state directory and a random secret key."""
    return {
        **outside_env(),
        "DJANGO_SETTINGS_MODULE": "homeservice.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": key_prefix,
        "SECRET_KEY": "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(50)),
        "VAR_DIR": var_dir,
        "LOG_LEVEL": "WARNING",
    }
