"""An embedded Redis-protocol server for running without a Redis installation.

When ``REDIS_URL`` is unset, ``make run`` starts this server (fakeredis' TCP server, in-memory,
on loopback) and hands its URL to every process it starts. The cache, the channel layer, the
Celery broker and beat then run exactly the code they run against a real Redis: one code path
for both modes (docs/architecture.md explains the choice). Not for production: one Python
thread per client, nothing persisted.
"""

from __future__ import annotations

import threading

from fakeredis import TcpFakeServer


class EmbeddedRedis:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = TcpFakeServer((host, port))
        self._server.daemon_threads = True  # client threads must not keep the process alive
        self._thread = threading.Thread(target=self._server.serve_forever, name="embedded-redis", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"redis://{host!s}:{port}/0"

    def start(self) -> EmbeddedRedis:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
