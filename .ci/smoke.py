"""Embedded-mode smoke test: `make run` on a fresh state directory, as a newcomer would.

Starts `make run` (no DATABASE_URL / REDIS_URL) in its own process group, waits for /readyz,
fetches the feed as alice, opens the WebSocket and checks the snapshot, then stops the group.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str, *, data: dict | None = None, token: str = "") -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 - loopback only
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.status, json.load(response)


async def websocket_snapshot(url: str, token: str) -> dict:
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        return json.loads(await asyncio.wait_for(ws.recv(), 20))


def main() -> int:
    port = free_port()
    var_dir = tempfile.mkdtemp(prefix="hs-smoke-")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"PORT": str(port), "VAR_DIR": var_dir})
    log_path = Path(var_dir) / "run.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["make", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"make run exited with {process.returncode}")
            try:
                status, ready = get_json(f"{base}/readyz")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("make run did not become ready within 120 s")
            time.sleep(0.5)
        print(f"ready: {ready}")
        assert ready["checks"]["redis"] == "ok", ready
        _, tokens = get_json(f"{base}/api/v1/auth/token/", data={"username": "alice", "password": "demo1234"})
        _, feed = get_json(f"{base}/api/v1/home/", token=tokens["access"])
        sources = [(s["product"], s["source"]) for s in feed["sections"]]
        print(f"alice's feed {feed['version']}: {sources}")
        assert ("mobile", "personalised") in sources, sources
        snapshot = asyncio.run(websocket_snapshot(f"ws://127.0.0.1:{port}/ws/home/", tokens["access"]))
        assert snapshot["type"] == "feed.snapshot", snapshot
        assert [s["id"] for s in snapshot["feed"]["sections"]] == [s["id"] for s in feed["sections"]]
        print(f"WebSocket snapshot {snapshot['version']}: ok")
    except Exception:
        print(log_path.read_text(errors="replace")[-5000:], file=sys.stderr)
        raise
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
