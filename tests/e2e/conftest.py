"""End-to-end harness: the real processes, started by the launcher exactly as ``make run`` does.

Not Django database tests: each run gets a database of its own (a SQLite file under the test's
``tmp_path`` in embedded mode; a fresh PostgreSQL database, dropped afterwards, in full-stack
mode) and, with a real Redis, a key prefix of its own whose keys are deleted afterwards (never a
flush). Every process is stopped by PID; a failing test shows the tail of the launcher's log.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from .harness import Launcher, free_port, launcher_env, wait_gone
from .redis_server import RedisServer

# --- Modes ------------------------------------------------------------------------------------------


def _full_stack_services() -> tuple[str, str] | None:
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if database_url and redis_url:
        return database_url, redis_url
    return None


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database on the DATABASE_URL server; dropped afterwards."""
    import psycopg
    from psycopg import sql

    services = _full_stack_services()
    assert services is not None
    name = f"hs_e2e_{uuid.uuid4().hex[:12]}"
    maintenance = _with_path(services[0], "/postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    try:
        yield _with_path(services[0], f"/{name}")
    finally:
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the REDIS_URL server; its keys are deleted afterwards."""
    import redis

    services = _full_stack_services()
    assert services is not None
    prefix = f"hs-e2e-{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(services[1])
        try:
            keys = list(client.scan_iter(match=f"{prefix}*", count=500))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
        finally:
            client.close()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own on a free port (for tests that stop and start it)."""
    server = RedisServer(free_port(), tmp_path / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["embedded", "full-stack"])
def mode(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "full-stack" and _full_stack_services() is None:
        pytest.skip(
            "full-stack mode needs DATABASE_URL and REDIS_URL (CI sets both); "
            "the embedded variant covers the same path with the embedded Redis-protocol server"
        )
    return name


@pytest.fixture
def stack_env(mode: str, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    var_dir = tmp_path / "var"
    if mode == "embedded":
        return launcher_env(var_dir=var_dir, port=free_port())
    services = _full_stack_services()
    assert services is not None
    return launcher_env(
        var_dir=var_dir,
        port=free_port(),
        DATABASE_URL=request.getfixturevalue("postgres_database"),
        REDIS_URL=services[1],
        REDIS_KEY_PREFIX=request.getfixturevalue("redis_prefix"),
    )


@pytest.fixture
def launcher(stack_env: dict[str, str], request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Launcher]:
    """The running stack, ready; stopped with SIGTERM (then killed if need be) afterwards."""
    stack = Launcher(env=stack_env, log_path=tmp_path / "launcher.log")
    request.node.launchers = [*getattr(request.node, "launchers", []), stack]
    stack.start()
    try:
        stack.wait_ready()
        yield stack
    finally:
        if stack.stop() is None or wait_gone(stack.seen):
            stack.kill()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for stack in getattr(item, "launchers", []):
            report.sections.append((f"launcher log, last lines ({stack.log_path})", stack.tail()))
    return report
