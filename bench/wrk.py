"""wrk, the load generator: install it when missing, run it pinned to a CPU, parse its report."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from typing import Any


class WrkError(RuntimeError):
    """wrk is missing and could not be installed, or a run failed or printed no result."""


def ensure_wrk() -> str:
    """The path of ``wrk``; installs the Debian package (``apt-get install -y wrk``) when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    if not shutil.which("apt-get"):
        raise WrkError("wrk is not installed and apt-get is not available: install wrk (https://github.com/wg/wrk)")
    if os.geteuid() != 0:
        raise WrkError("wrk is not installed; install it first: sudo apt-get install -y wrk")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    print("bench: wrk not found; running apt-get install -y wrk", flush=True)
    done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=180, check=False)
    if done.returncode != 0:
        print("bench: apt-get install failed; running apt-get update first", flush=True)
        update = subprocess.run(
            ["apt-get", "update", "-q"], env=env, capture_output=True, text=True, timeout=180, check=False
        )
        if update.returncode != 0:
            raise WrkError(f"apt-get update failed:\n{update.stdout}{update.stderr}")
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=180, check=False)
        if done.returncode != 0:
            raise WrkError(f"apt-get install -y wrk failed:\n{done.stdout}{done.stderr}")
    found = shutil.which("wrk")
    if not found:
        raise WrkError("apt-get installed wrk but it is not on PATH")
    return found


def wrk_version(wrk: str) -> str:
    """wrk's version line (``wrk -v`` prints it and exits with status 1)."""
    done = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10, check=False)
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0].split(" Copyright")[0].strip() if lines else "unknown"


@dataclass(frozen=True)
class WrkSettings:
    threads: int
    connections: int
    duration_s: int
    timeout_s: int
    cpu: int | None

    def command(
        self,
        wrk: str,
        url: str,
        headers: list[str],
        *,
        duration_s: int | None = None,
        script: str | None = None,
        script_args: list[str] | None = None,
    ) -> list[str]:
        """The wrk command line; with ``script``, a Lua script (``-s``) and its arguments (after ``--``)."""
        seconds = self.duration_s if duration_s is None else duration_s
        pin = ["taskset", "-c", str(self.cpu)] if self.cpu is not None else []
        args = [f"-t{self.threads}", f"-c{self.connections}", f"-d{seconds}s", "--timeout", f"{self.timeout_s}s"]
        extra = [item for header in headers for item in ("-H", header)]
        lua = ["-s", script] if script else []
        tail = ["--", *script_args] if script and script_args else []
        return [*pin, wrk, *args, "--latency", *extra, *lua, url, *tail]


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    bytes_read: float
    requests_per_s: float
    latency_avg_ms: float
    latency_max_ms: float
    latency_p50_ms: float
    latency_p75_ms: float
    latency_p90_ms: float
    latency_p99_ms: float
    non_2xx_3xx: int
    socket_errors: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        """Responses outside 2xx/3xx plus socket errors (connect, read, write, timeout)."""
        return self.non_2xx_3xx + sum(self.socket_errors.values())

    @property
    def bytes_per_response(self) -> float:
        return self.bytes_read / self.requests if self.requests else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "errors": self.errors, "bytes_per_response": round(self.bytes_per_response, 1)}


_TIME_TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_SIZE = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_TIME = r"([\d.]+)(us|ms|s|m|h)"


def _ms(value: str, unit: str) -> float:
    return float(value) * _TIME_TO_MS[unit]


def parse_wrk(output: str) -> WrkResult:
    """Read wrk's ``--latency`` report (wrk 4: units us/ms/s, sizes in powers of 1024)."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(rf"^\s*(\d+) requests in {_TIME}, ([\d.]+)(B|KB|MB|GB|TB) read", output, re.M)
    stats = re.search(rf"^\s*Latency\s+{_TIME}\s+{_TIME}\s+{_TIME}", output, re.M)
    percentiles = {int(p): _ms(v, u) for p, v, u in re.findall(rf"^\s*(50|75|90|99)%\s+{_TIME}", output, re.M)}
    if not (rps and total and stats) or set(percentiles) != {50, 75, 90, 99}:
        raise WrkError(f"could not read wrk's report:\n{output}")
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        requests=int(total.group(1)),
        duration_s=_ms(total.group(2), total.group(3)) / 1000,
        bytes_read=float(total.group(4)) * _SIZE[total.group(5)],
        requests_per_s=float(rps.group(1)),
        latency_avg_ms=_ms(stats.group(1), stats.group(2)),
        latency_max_ms=_ms(stats.group(5), stats.group(6)),
        latency_p50_ms=percentiles[50],
        latency_p75_ms=percentiles[75],
        latency_p90_ms=percentiles[90],
        latency_p99_ms=percentiles[99],
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=(
            dict(zip(("connect", "read", "write", "timeout"), map(int, sockets.groups()), strict=True))
            if sockets
            else {}
        ),
    )


def run_wrk(command: list[str], *, timeout_s: float) -> str:
    """Run one wrk command; its stdout (the report). Raises WrkError when wrk fails."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise WrkError(f"wrk did not finish within {timeout_s:.0f} s: {' '.join(command)}") from exc
    if done.returncode != 0:
        raise WrkError(f"wrk exited with {done.returncode}:\n{done.stdout}{done.stderr}")
    return done.stdout
