"""The load generator of bench/load.py (issue 17, item 7): flows of requests driven from threads
with the standard library's `http.client`, open loop (at a rate, each request timed from when it
was due) or closed (back to back), each flow's latencies and statuses counted."""

import http.client
import itertools
import threading
import time
from dataclasses import dataclass, field

PLACEHOLDER = "424242"  # replaced per request in the Update's template: update_id, message, chat and person
DUPLICATE_EVERY = 20


@dataclass
class Request:
    method: str
    path: str
    body: bytes | None = None
    headers: dict = field(default_factory=dict)
    tag: object = None  # what the flow wants to know of its answer (the webhook: the update_id)


class Flow:
    """One operation's requests: `request(n)` makes the n-th; `answered` hears each outcome."""

    name = "?"

    def request(self, n: int) -> Request:
        raise NotImplementedError

    def answered(self, request: Request, status: int) -> None:
        """Called from the sending thread, for every request (status 0: no answer at all)."""


class Get(Flow):
    def __init__(self, name: str, path: str, headers: dict) -> None:
        self.name, self.path, self.headers = name, path, headers

    def request(self, n: int) -> Request:
        return Request("GET", self.path, headers=self.headers)


class Updates(Flow):
    """Telegram posting Updates: each a new update_id from a new person sending /start, and every
    `DUPLICATE_EVERY`-th one an update sent a moment before (often still in flight), as Telegram
    re-sends one it thinks undelivered. Records what was answered 200 and what was not."""

    def __init__(self, name: str, path: str, headers: dict, template: str, first_id: int) -> None:
        self.name, self.path, self.headers, self.template = name, path, headers, template
        self.ids = itertools.count(first_id)
        self.recent: list[int] = []  # the last ids sent (appending is atomic: one thread's list op)
        self.accepted: set[int] = set()
        self.refused: set[int] = set()  # sent, never answered 200 (so maybe stored, maybe not)
        self.duplicates = 0
        self._lock = threading.Lock()

    def request(self, n: int) -> Request:
        if n % DUPLICATE_EVERY == DUPLICATE_EVERY - 1 and len(self.recent) > 8:
            update_id = self.recent[-8]  # sent eight requests ago: answered or not yet
            with self._lock:
                self.duplicates += 1
        else:
            update_id = next(self.ids)
            self.recent.append(update_id)
            del self.recent[:-64]
        return Request("POST", self.path, self.template.replace(PLACEHOLDER, str(update_id)).encode(), self.headers, update_id)

    def answered(self, request: Request, status: int) -> None:
        if status == 200:
            self.accepted.add(request.tag)
        else:
            self.refused.add(request.tag)

    @property
    def unknown(self) -> set[int]:
        return self.refused - self.accepted


@dataclass
class Load:
    """How one flow is driven: at `rate` a second (open loop: each request timed from when it was
    due) or, with no rate, back to back on each of `connections` (closed loop)."""

    flow: Flow
    connections: int
    rate: float | None = None


@dataclass
class Result:
    name: str
    latencies_ms: list[float]
    statuses: dict[int, int]
    late_ms: list[float]  # how late the generator itself sent each request (its own health)
    seconds: float
    offered: float | None

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def failed(self) -> int:
        return self.requests - self.ok

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        return percentile(self.latencies_ms, p)


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def _send(conn_box: list, port: int, request: Request, timeout: float) -> int:
    """One request on the thread's connection (made again when the server closed it, as gunicorn's
    sync workers do after every answer). 0 when no answer came."""
    try:
        if conn_box[0] is None:
            conn_box[0] = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn = conn_box[0]
        headers = {"Content-Type": "application/json", **request.headers} if request.body is not None else request.headers
        conn.request(request.method, request.path, body=request.body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.will_close:
            conn.close()
        return response.status
    except (OSError, http.client.HTTPException):
        if conn_box[0] is not None:
            conn_box[0].close()
        conn_box[0] = None
        return 0


def drive(port: int, loads: list[Load], duration: float, *, timeout: float = 30.0) -> list[Result]:
    """Drive every load at once for `duration` seconds and return what each saw. Open-loop loads
    take numbered tickets: ticket n is due at start + n / rate, sent by whichever of the load's
    threads is free (late if none was) and timed from when it was due; so a server that falls
    behind shows its queue in the latencies instead of slowing the generator down."""
    start = time.perf_counter() + 0.05
    deadline = start + duration
    records: list[list] = [[] for _ in loads]
    threads = []

    def run(index: int, load: Load, tickets) -> None:
        box: list = [None]
        out = records[index]
        while True:
            n = next(tickets)
            if load.rate:
                due = start + n / load.rate
                if due >= deadline:
                    break
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            else:
                due = time.perf_counter()
                if due >= deadline:
                    break
            request = load.flow.request(n)
            sent = time.perf_counter()
            status = _send(box, port, request, timeout)
            done = time.perf_counter()
            load.flow.answered(request, status)
            out.append((due, sent, done, status))
        if box[0] is not None:
            box[0].close()

    for index, load in enumerate(loads):
        tickets = itertools.count()  # next() on it is atomic: one C call under the GIL
        for _ in range(load.connections):
            threads.append(threading.Thread(target=run, args=(index, load, tickets), daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results = []
    for load, rows in zip(loads, records, strict=True):
        statuses: dict[int, int] = {}
        for row in rows:
            statuses[row[3]] = statuses.get(row[3], 0) + 1
        seconds = (max(row[2] for row in rows) - start) if rows else duration
        results.append(Result(
            name=load.flow.name, latencies_ms=[(done - due) * 1000 for due, _, done, _ in rows], statuses=statuses,
            late_ms=[(sent - due) * 1000 for due, sent, _, _ in rows], seconds=max(seconds, duration), offered=load.rate,
        ))
    return results


def show(title: str, results: list[Result]) -> None:
    print(f"\n{title}")
    print(f"  {'':34}{'offered/s':>10}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'requests':>10}{'failed':>8}{'late p99':>10}")
    for r in results:
        offered = (f"{r.offered:.0f}" if r.offered >= 10 else f"{r.offered:.1f}") if r.offered else "max"
        print(f"  {r.name:34}{offered:>10}{r.rps:>9.{0 if r.rps >= 10 else 1}f}{r.percentile(50):>9.1f}{r.percentile(95):>9.1f}{r.percentile(99):>9.1f}"
              f"{max(r.latencies_ms, default=0):>9.1f}{r.requests:>10}{r.failed:>8}{percentile(r.late_ms, 99):>10.1f}")
        if r.failed:
            print(f"  {'':34}statuses: {dict(sorted(r.statuses.items()))} (0: no answer)")
