"""The worker's broker connection survives Redis going away with a task not yet acknowledged.

The sequence that crashed the Celery worker when Redis stopped (homeservice/broker.py explains
it): the worker holds a late-acknowledged task, waits on BRPOP and has a second channel with a
fanout queue (its remote control); the connection breaks; Celery's consumer closes the broken
connection with ``Consumer.on_connection_error_after_connected`` (the real method is called).
With kombu's Redis transport the last close raised ``AttributeError: 'NoneType' object has no
attribute 'hostname'``, which nothing caught: the worker exited.

The scenario runs in a process of its own with ``REDIS_URL`` pointing at a redis-server of this
test's own (never the shared one), so the broker connection is configured exactly as the
settings configure it for the worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .harness import ROOT
from .redis_server import RedisServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

SCENARIO = r"""
import socket
import sys
from types import SimpleNamespace

import django
import kombu

django.setup()

from celery.worker.consumer.consumer import Consumer

from homeservice.celery import app

queue = kombu.Queue("broker-reconnect-probe", routing_key="broker-reconnect-probe")
connection = app.connection_for_read()
connection.ensure_connection(max_retries=3)
with connection.Producer() as producer:
    producer.publish({"n": 1}, routing_key="broker-reconnect-probe", declare=[queue])
# The worker's event loop always has a BRPOP waiting; a long BRPOP keeps this one waiting until
# Redis stops (with the default of 1 s it could have been answered with nil before).
connection.default_channel.brpop_timeout = 60
held = []
consumer = connection.Consumer([queue], callbacks=[lambda body, message: held.append(message)])
consumer.consume()
connection.drain_events(timeout=10)  # delivered and not acknowledged, as a late-ack task is
assert len(held) == 1, held
# Like the worker's remote control (pidbox): a fanout queue consumed on a channel of its own.
control = connection.channel()
broadcast = kombu.Exchange("broker-reconnect-broadcast", type="fanout", auto_delete=True)
control_consumer = kombu.Consumer(
    control, [kombu.Queue("broker-reconnect-control", broadcast, auto_delete=True)], callbacks=[lambda b, m: None]
)
control_consumer.consume()
try:
    connection.drain_events(timeout=0.3)  # leaves a BRPOP waiting on the socket
except socket.timeout:
    pass
print("HOLDING", flush=True)
sys.stdin.readline()  # the test stops Redis here
worker_consumer = SimpleNamespace(connection=connection, app=app, qos_global=False, max_prefetch_count=1)
Consumer.on_connection_error_after_connected(worker_consumer, ConnectionError("Connection closed by server."))
assert worker_consumer.connection is None
print("CLOSED", flush=True)
"""


def test_closing_a_broken_broker_connection_with_an_unacked_task_does_not_crash(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("HOMESERVICE_TESTING", "CELERY_TASK_ALWAYS_EAGER")},
        "DJANGO_SETTINGS_MODULE": "homeservice.settings",
        "DEBUG": "true",
        "VAR_DIR": str(tmp_path / "var"),
        "REDIS_URL": redis_server.url,
        "REDIS_KEY_PREFIX": "hs-broker-reconnect",
    }
    scenario = subprocess.Popen(
        [sys.executable, "-c", SCENARIO],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert scenario.stdout is not None
        assert scenario.stdin is not None
        first = scenario.stdout.readline()
        assert first.strip() == "HOLDING", first + scenario.stdout.read()

        redis_server.stop()
        scenario.stdin.write("go\n")
        scenario.stdin.flush()
        output, _ = scenario.communicate(timeout=60)
    finally:
        if scenario.poll() is None:
            scenario.kill()
            scenario.wait(timeout=10)

    assert scenario.returncode == 0, output
    assert "CLOSED" in output, output
    assert "AttributeError" not in output, output
