"""``make run``: migrate, seed the demo and start the whole service in the foreground.

Embedded (``REDIS_URL`` unset): an embedded Redis-protocol server in this process, the ASGI
server, and one Celery worker with beat inside it; SQLite unless ``DATABASE_URL`` is set.
Full stack (``REDIS_URL`` set): the ASGI server, a Celery worker and a separate beat process.
With ``DEBUG`` and ``SIMULATE_PRODUCTS`` on (``make run`` turns it on), ``manage.py
simulate_products`` pushes offer events for the demo users, so offers arrive on their own.
Ctrl-C (or SIGTERM) stops every process it started. Settings come from the environment
(README.md lists them); ``PORT`` (8000) and ``HOST`` (127.0.0.1) place the server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType

from .embedded_redis import EmbeddedRedis

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def _say(message: str) -> None:
    print(f"[homeservice] {message}", flush=True)


def _manage(*args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, check=True)


def _wait_ready(url: str, processes: list[subprocess.Popen[bytes]], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own loopback URL
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def _on(name: str, default: str) -> bool:
    return os.environ.get(name, default).lower() in ("1", "true", "yes", "on")


def _start(command: list[str]) -> subprocess.Popen[bytes]:
    """Start a child in a process group of its own, so that stopping it stops what it forked too
    (the worker's pool and embedded beat), and a terminal's Ctrl-C reaches only this launcher."""
    return subprocess.Popen(command, cwd=ROOT, start_new_session=True)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(processes: list[subprocess.Popen[bytes]], grace: float = 15.0) -> None:
    """SIGTERM every child's group; after ``grace`` seconds SIGKILL whatever is left of them."""
    for process in processes:
        if _group_alive(process.pid):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _say(f"process {process.pid} did not stop in {grace:.0f} s; killing it")
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)  # its own children (pool, beat) are still finishing
        if _group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.setdefault("PORT", "8000")
    embedded = None
    if not os.environ.get("REDIS_URL"):
        embedded = EmbeddedRedis(port=int(os.environ.get("EMBEDDED_REDIS_PORT", "0"))).start()
        os.environ["REDIS_URL"] = embedded.url
        _say(f"embedded mode: Redis-protocol server at {embedded.url} (in this process)")
    else:
        _say("full-stack mode: using REDIS_URL")
    database = os.environ.get("DATABASE_URL", "SQLite file under var/")
    _say(f"database: {database.split('@')[-1]}")

    processes: list[subprocess.Popen[bytes]] = []
    helpers: list[subprocess.Popen[bytes]] = []
    helpers_exited: set[int] = set()
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        _manage("migrate", "--noinput", "-v", "0")
        _manage("collectstatic", "--noinput", "-v", "0")
        if _on("SEED_DEMO", "true"):
            _manage("seed_demo", "--poll-interval", os.environ.get("DEMO_POLL_INTERVAL_SECONDS", "30"))
        server = [
            PY,
            "-m",
            "uvicorn",
            "homeservice.asgi:application",
            "--host",
            host,
            "--port",
            port,
            "--lifespan",
            "off",
            "--no-access-log" if os.environ.get("ACCESS_LOG") == "false" else "--access-log",
        ]
        worker = [
            PY,
            "-m",
            "celery",
            "-A",
            "homeservice",
            "worker",
            "-l",
            "INFO",
            "--concurrency",
            os.environ.get("CELERY_CONCURRENCY", "2"),
        ]
        var_dir = Path(os.environ.get("VAR_DIR") or ROOT / "var")
        var_dir.mkdir(parents=True, exist_ok=True)
        beat_schedule = str(var_dir / "celerybeat-schedule")
        processes.append(_start(server))
        if embedded:
            processes.append(_start([*worker, "-B", "-s", beat_schedule]))
        else:
            processes.append(_start(worker))
            processes.append(
                _start([PY, "-m", "celery", "-A", "homeservice", "beat", "-l", "INFO", "-s", beat_schedule])
            )
        base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104
        if not _wait_ready(f"{base}/readyz", processes):
            _say("the service did not become ready; stopping")
            return 1
        _say("ready")
        # The simulator is a helper: stopped with the rest, but its exit does not stop the service.
        simulate = _on("DEBUG", "false") and _on("SIMULATE_PRODUCTS", "false")
        rate = os.environ.get("SIMULATE_PRODUCTS_RATE", "0.1")
        if simulate:
            # alice and bob get flash offers; carol keeps the generic deals the demo promises her.
            command = ["simulate_products", "--base-url", base, "--rate", rate, "--users", "alice,bob", "--quiet"]
            helpers.append(_start([PY, "manage.py", *command]))
        try:
            every = f"every ~{1 / float(rate):.0f} s" if float(rate) < 1 else f"{float(rate):g} a second"
        except (ValueError, ZeroDivisionError):
            every = f"at {rate} a second"
        simulator_line = (
            f"  Simulator   offers for alice and bob arrive {every} (SIMULATE_PRODUCTS=false: off)\n"
            if simulate
            else ""
        )
        print(
            f"\n  Home feed   {base}/api/v1/home/   (get a token: POST {base}/api/v1/auth/token/)\n"
            f"  API docs    {base}/api/docs/\n"
            f"  Admin       {base}/admin/   (admin / demo1234; marketer: mia / demo1234)\n"
            f"  WebSocket   ws://{base.removeprefix('http://')}/ws/home/\n"
            f"  Demo users  alice, bob, carol (password demo1234)\n"
            f"{simulator_line}"
            f"  Stop with Ctrl-C.\n",
            flush=True,
        )
        while not stopping:
            if any(p.poll() is not None for p in processes):
                _say("a process exited unexpectedly; stopping the rest")
                return 1
            for helper in helpers:
                if helper.poll() is not None and helper.pid not in helpers_exited:
                    helpers_exited.add(helper.pid)
                    _say(f"the product simulator exited with {helper.returncode}; the service goes on")
            time.sleep(0.5)
        _say("stopping")
        return 0
    except subprocess.CalledProcessError as exc:
        _say(f"setup step failed: {exc}")
        return 1
    finally:
        _stop([*helpers, *processes])
        if embedded:
            embedded.stop()


if __name__ == "__main__":
    sys.exit(main())
