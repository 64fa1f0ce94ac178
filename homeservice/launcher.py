"""``make run``: migrate, seed the demo and start the whole service in the foreground.

Embedded (``REDIS_URL`` unset): an embedded Redis-protocol server in this process, the ASGI
server, and one Celery worker with beat inside it; SQLite unless ``DATABASE_URL`` is set.
Full stack (``REDIS_URL`` set): the ASGI server, a Celery worker and a separate beat process.
With ``DEBUG`` and ``SIMULATE_PRODUCTS`` on (``make run`` turns it on), ``manage.py
simulate_products`` pushes offer events for the demo users, so offers arrive on their own.
Once the service is ready, a process that dies is started again with backoff and the others keep
running (homeservice/supervisor.py); only Ctrl-C (or SIGTERM) stops every process it started.
Settings come from the environment (README.md lists them); ``PORT`` (8000) and ``HOST``
(127.0.0.1) place the server.
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
from .supervisor import Supervisor

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
# The largest WebSocket message the server accepts from a client, in bytes (docs/websocket.md);
# docker-compose.yml and the Dockerfile start the server with the same limit.
WS_MAX_SIZE = 65536


def _say(message: str) -> None:
    print(f"[homeservice] {message}", flush=True)


def _manage(*args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, check=True)


def _wait_ready(url: str, supervisor: Supervisor, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if supervisor.exited():
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


def server_command(*, host: str, port: str, access_log: bool) -> list[str]:
    """The ASGI server as ``make run`` starts it (its access log redacts tickets: homeservice/access_log.py)."""
    return [
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
        "--ws-max-size",
        str(WS_MAX_SIZE),
        "--access-log" if access_log else "--no-access-log",
    ]


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

    supervisor = Supervisor(cwd=ROOT, say=_say)
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
        server = server_command(host=host, port=port, access_log=os.environ.get("ACCESS_LOG") != "false")
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
        supervisor.start("server", server)
        if embedded:
            supervisor.start("worker", [*worker, "-B", "-s", beat_schedule])
        else:
            supervisor.start("worker", worker)
            beat = [PY, "-m", "celery", "-A", "homeservice", "beat", "-l", "INFO", "-s", beat_schedule]
            supervisor.start("beat", beat)
        base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104
        # A process that dies before the service is ready is a setup problem (a port in use, a
        # broken setting): stop and say so, rather than restart it in a loop.
        if not _wait_ready(f"{base}/readyz", supervisor):
            for child in supervisor.exited():
                _say(f"{child.name} exited before the service was ready")
            _say("the service did not become ready; stopping")
            return 1
        _say("ready")
        # The simulator is supervised like the rest: restarted with backoff if it dies.
        simulate = _on("DEBUG", "false") and _on("SIMULATE_PRODUCTS", "false")
        rate = os.environ.get("SIMULATE_PRODUCTS_RATE", "0.1")
        if simulate:
            # alice and bob get flash offers; carol keeps the generic deals the demo promises her.
            command = ["simulate_products", "--base-url", base, "--rate", rate, "--users", "alice,bob", "--quiet"]
            supervisor.start("simulator", [PY, "manage.py", *command])
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
            supervisor.check()
            time.sleep(0.5)
        _say("stopping")
        return 0
    except subprocess.CalledProcessError as exc:
        _say(f"setup step failed: {exc}")
        return 1
    finally:
        supervisor.stop()
        if embedded:
            embedded.stop()


if __name__ == "__main__":
    sys.exit(main())
