"""A test's own PostgreSQL and Redis processes, on ports of their own, for the fault tests that stop
and kill them (issue 17, item 5): never the machine's shared services on 5432 and 6379.

`OwnRedis(port)` and `OwnPostgres(port)` start a throwaway server in a temporary directory, can be
stopped and started again on the same data (an outage and its end), and are removed at the end.
A file lock per port keeps two test files (xdist workers) from starting the same port at once."""

import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def available() -> tuple[bool, str]:
    """Whether this machine can run the servers (CI's image has both)."""
    if shutil.which("redis-server") is None:
        return False, "redis-server is not installed"
    if not (PG_BIN / "initdb").exists():
        return False, f"PostgreSQL's initdb is not in {PG_BIN} (set PG_BIN)"
    return True, ""


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(port: int, up: bool, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _listening(port) == up:
            return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not go {'up' if up else 'down'} in {seconds} s")


class _PortLock:
    def __init__(self, port: int):
        self.path = Path(tempfile.gettempdir()) / f"own-service-{port}.lock"
        self.file = None

    def acquire(self, seconds: float = 120) -> None:
        self.file = self.path.open("w")
        deadline = time.monotonic() + seconds
        while True:
            try:
                fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def release(self) -> None:
        if self.file is not None:
            fcntl.flock(self.file, fcntl.LOCK_UN)
            self.file.close()
            self.file = None


class OwnRedis:
    def __init__(self, port: int):
        self.port, self.lock = port, _PortLock(port)
        self.dir = Path(tempfile.mkdtemp(prefix=f"redis-{port}-"))
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> "OwnRedis":
        if self.process is None:
            self.lock.acquire()
        if _listening(self.port):
            raise RuntimeError(f"something else listens on {self.port}")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _wait(self.port, up=True)
        return self

    def stop(self) -> None:
        """An outage: the server killed (nothing flushed, as a crash would)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        _wait(self.port, up=False)

    def close(self) -> None:
        self.stop()
        self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)
        self.lock.release()


class OwnPostgres:
    """A cluster of its own (initdb), trust authentication for `postgres` on 127.0.0.1."""

    def __init__(self, port: int):
        self.port, self.lock = port, _PortLock(port)
        self.dir = Path(tempfile.mkdtemp(prefix=f"pg-{port}-"))
        self.data = self.dir / "data"
        self.started = False

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        # initdb and postgres refuse to run as root: as the postgres user then.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(prefix + list(command), check=check, capture_output=True, text=True, timeout=60)

    def url(self, name: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def start(self) -> "OwnPostgres":
        if not self.started:
            self.lock.acquire()
            if os.geteuid() == 0:
                shutil.chown(self.dir, "postgres")
            self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
            self.started = True
        if _listening(self.port):
            raise RuntimeError(f"something else listens on {self.port}")
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.dir / "log"), "start",
                  "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off")
        _wait(self.port, up=True)
        return self

    def create_database(self, name: str) -> str:
        self._run(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def stop(self) -> None:
        """An outage: immediate shutdown (connections cut, as a crash or a fail-over would)."""
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        _wait(self.port, up=False)

    def close(self) -> None:
        if self.started:
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        self.lock.release()
