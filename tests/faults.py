"""A Redis of the test's own, to stop and start again (issue 17, item 5), and the broker's queue on
it run as a worker would.

The fault tests start `redis-server` on port 56379 (never the machine's 6379), kill it to make the
outage, and start it again on the same port. xdist may hand two fault files to two workers at
once: a file lock makes them take the port in turn. Without the binary the tests skip on a
developer's machine and fail in CI."""

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import kombu.pools
import pytest
from celery.app.trace import build_tracer

from config.celery import app

PORT = 56379
URL = f"redis://127.0.0.1:{PORT}/0"


class OwnRedis:
    """A redis-server process of our own, on PORT, without persistence."""

    def __init__(self, workdir: str):
        self.workdir = workdir
        self.process = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.workdir, "--logfile", os.path.join(self.workdir, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", PORT), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RuntimeError(f"our redis-server did not come up on port {PORT}")

    def kill(self) -> None:
        """The outage: SIGKILL, as a crash would; nothing it held survives (no persistence)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture(scope="module")
def own_redis():
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is required in CI for the fault tests.")
        pytest.skip("redis-server is not installed here.")
    with open(os.path.join(tempfile.gettempdir(), f"platform-fault-redis-{PORT}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one fault file at a time on the port
        with tempfile.TemporaryDirectory() as workdir:
            redis = OwnRedis(workdir)
            try:
                yield redis
            finally:
                redis.kill()


@pytest.fixture
def broker(own_redis, monkeypatch):
    """Celery on our own Redis, not inline: `enqueue` goes through the outbox (issue 17)."""
    from core import outbox

    monkeypatch.setenv("CELERY_BROKER_URL", URL)  # Celery reads it before its configuration (CI sets it)
    own_redis.kill()
    own_redis.start()
    saved = (app.conf.broker_url, app.conf.task_always_eager)
    app.conf.broker_url, app.conf.task_always_eager = URL, False
    _fresh_connections()
    outbox._broker_down_until = 0.0
    try:
        yield own_redis
    finally:
        app.conf.broker_url, app.conf.task_always_eager = saved
        _fresh_connections()
        outbox._broker_down_until = 0.0
        own_redis.kill()


def _fresh_connections() -> None:
    """Celery's pools of broker connections, closed and forgotten: the next publish connects to
    the broker the configuration names now."""
    kombu.pools.reset()
    app._pool = app.amqp._producer_pool = None


def run_queued(*, rounds: int = 1000) -> list[str]:
    """Take the broker's messages one by one and run each as a worker does (not inline: a retry
    goes back to the broker, a task it queues goes through the outbox), until the queue is empty.
    Its clock is past every eta. Returns the names of the tasks run."""
    ran = []
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue(app.amqp.queues[app.conf.task_default_queue])
        try:
            for _ in range(rounds):
                try:
                    message = queue.get(timeout=0.2)
                except queue.Empty:
                    break
                headers = message.headers
                args, kwargs, _embed = message.decode()
                task = app.tasks[headers["task"]]
                request = {"id": headers["id"], "task": task.name, "retries": headers.get("retries", 0), "is_eager": False, "headers": headers,
                           "ignore_result": True, "delivery_info": {"exchange": "", "routing_key": app.conf.task_default_queue}}
                build_tracer(task.name, task, eager=False, propagate=False, app=app)(headers["id"], args, kwargs, request)
                message.ack()
                ran.append(task.name)
        finally:
            queue.close()
    return ran


def relay() -> int:
    """Beat's relay, run now."""
    from core.tasks import relay_outbox

    return relay_outbox()
