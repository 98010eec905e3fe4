"""Benchmark: a broadcast to 10,000 subscribers through the local Bot API server and two Celery workers.

    .venv/bin/python bench/broadcast.py                  (or: make bench-broadcast)
    .venv/bin/python bench/broadcast.py --subscribers 600   (a quick one, ~25 s)

One run (about 7 minutes with the defaults: 10,000 messages at the limiter's 30 per 1.2 s):
1. builds a fresh database `platform_bench_broadcast` on the local PostgreSQL and migrates it;
   a client with a project, its bot connected (the token encrypted with the SECRET_KEY that the
   workers use too) and `--subscribers` active Telegram subscribers, each its own chat;
2. flushes its own Redis database (`--redis`, db 12 by default: never the others), the broker and
   the shared send limiter of the workers;
3. serves the Bot API from this process (tests/bot_api.py, a thread on 127.0.0.1), which records
   the arrival of every call; starts `--workers` Celery workers (threads pool) against it;
4. creates the broadcast as the dashboard does (`create_broadcast`): its start and its chunks of
   500 go through Redis to the workers, which send each message through the limiter;
5. waits for the broadcast to be done, then reports what the server saw: the rate, the busiest
   second for the bot and for any one chat, every chat's count of messages, the broadcast's counts.
Goals (issue 15): the server never sees more than 30 sendMessage a second for the bot nor more
than 1 a second for a chat; every subscriber gets exactly one message. Exits 1 when one is missed.
"""

import argparse
import collections
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = "777001:AAH-bench-token-0123456789abcdef"
BOT_ID = 777001
FIRST_CHAT = 500_000_000


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/platform_bench_broadcast")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12", help="broker and limiter (this db number is flushed)")
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--pool", choices=["threads", "solo"], default="threads")
    parser.add_argument("--concurrency", type=int, default=4, help="threads per worker (threads pool)")
    parser.add_argument("--keep", action="store_true", help="keep the database (and the workers' logs) afterwards")
    return parser.parse_args()


def fresh_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()  # this db number only
    client.close()


def busiest(times: list, seconds) -> int:
    """The most of `times` (sorted) within any `seconds` (as BotApi.busiest counts them). The
    limiter's grants are counted in its integer microseconds: a grant exactly one window after
    another is allowed, and in float seconds the two would often seem a hair less apart."""
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


class Reservations:
    """The limiter's own log of the bot's reservations (Redis's clock), read every 0.2 s from a
    thread: each entry lives one window (1.2 s) in the sorted set, so every one is seen. What the limiter
    granted, to hold next to what the server saw."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.key = f"msg:limit:{{{BOT_ID}}}:bot"
        self.seen: dict[bytes, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="reservations", daemon=True)

    def start(self) -> "Reservations":
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(0.2):
            for member, score in self.client.zrange(self.key, 0, -1, withscores=True):
                self.seen[member] = int(score)  # microseconds, exactly as the script compared them

    def stop(self) -> list[int]:
        self._stop.set()
        self._thread.join(timeout=5)
        self.client.close()
        return sorted(self.seen.values())


def show_busiest(times: list[float], walls: list[float], granted: list[float]) -> None:
    """Where the server saw more than 30 in a second: those arrivals, and the grants around them."""
    most, start, at = 0, 0, (0, 0)
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        if end - start + 1 > most:
            most, at = end - start + 1, (start, end)
    first, last = at
    offset = walls[0] - times[0]  # the monotonic arrivals on the wall clock (same process)
    lo, hi = times[first] + offset, times[last] + offset
    print(f"  the busiest second at the server, {times[first] - times[0]:.1f} s after the first arrival: {most} arrivals in "
          f"{(times[last] - times[first]) * 1000:.0f} ms; gaps (ms): "
          + " ".join(f"{(b - a) * 1000:.0f}" for a, b in zip(times[first:last], times[first + 1:last + 1], strict=True)))
    near = [g for g in granted if lo - 0.5 <= g <= hi + 0.1]
    print("  grants from 0.5 s before to 0.1 s after it (ms from its first arrival): " + " ".join(f"{(g - lo) * 1000:.0f}" for g in near))


def setup(args) -> tuple:
    """The client, its project with a connected bot, and the subscribers (in bulk)."""
    from django.utils import timezone

    from accounts.models import Client
    from accounts.services import register_client
    from core.crypto import encrypt
    from projects.models import ProjectBot, Subscriber
    from projects.services import create_project

    owner = register_client(name="Bench Owner", email="bench-broadcast@example.com", password="bench-password-1", accept_terms=True, age_confirmed=True)
    Client.objects.filter(pk=owner.pk).update(tariff=Client.Tariff.PRO, tariff_since=timezone.now())
    owner.refresh_from_db()
    project = create_project(owner=owner, name="Bench broadcast bot")
    ProjectBot.objects.create(project=project, token_encrypted=encrypt(TOKEN), bot_id=BOT_ID, username="bench_bot", name="Bench bot")
    now = timezone.now()
    Subscriber.objects.bulk_create(
        (Subscriber(project=project, messenger="telegram", messenger_user_id=str(FIRST_CHAT + n), name=f"Person {n}", status="active",
                    source="telegram", consent_at=now, consent_source="Telegram /start", subscribed_at=now)
         for n in range(args.subscribers)),
        batch_size=2000,
    )
    return owner, project


def start_workers(args, env: dict, logs: Path) -> list[subprocess.Popen]:
    workers = []
    for k in range(args.workers):
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", f"--pool={args.pool}", "-n", f"bench-broadcast{k}@%h",
                   "--without-gossip", "--without-mingle", "--loglevel=WARNING"]
        if args.pool == "threads":
            command.append(f"--concurrency={args.concurrency}")
        log = open(logs / f"worker{k}.log", "w")  # noqa: SIM115 (closed with the process)
        workers.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        log.close()
    return workers


def wait_for_workers(app, workers: list[subprocess.Popen], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(w.poll() is not None for w in workers):
            raise RuntimeError("a Celery worker exited while starting (see its log)")
        if len(app.control.ping(timeout=1.0)) >= len(workers):
            return
    raise RuntimeError(f"the {len(workers)} Celery workers did not answer a ping within {timeout:.0f} s")


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()  # warm shutdown: the task in hand finishes
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)


def timeout_for(subscribers: int) -> float:
    """The broadcast's time at the limiter's rate (30 per 1 + margin seconds), and 90 s more."""
    from django.conf import settings

    rate = settings.TELEGRAM_PER_BOT_PER_SECOND / (1 + max(0.0, settings.TELEGRAM_LIMIT_MARGIN))
    return subscribers / rate + 90


def run(args, api, workers: list[subprocess.Popen], owner, project) -> dict:
    """Create the broadcast, wait until it is done, and gather what happened."""
    from projects.models import Broadcast
    from projects.sending.broadcasts import counts_of, create_broadcast

    timeout = timeout_for(args.subscribers)
    granted = Reservations(args.redis).start()
    started_wall, started = time.time(), time.monotonic()
    broadcast = create_broadcast(project=project, actor=owner, text="Bench broadcast: the winter sale starts today.")
    last_report, last_calls, status = started, 0, broadcast.status
    while True:
        time.sleep(0.5)
        status = Broadcast.objects.filter(pk=broadcast.pk).values_list("status", flat=True).get()
        if status in (Broadcast.Status.DONE, Broadcast.Status.CANCELLED):
            break
        now = time.monotonic()
        if now - started > timeout:
            break
        if any(w.poll() is not None for w in workers):
            raise RuntimeError("a Celery worker exited during the broadcast (see its log)")
        if now - last_report >= 10:
            calls = len(api.calls("sendMessage"))
            counts = counts_of(broadcast)
            print(f"  {now - started:5.0f} s: {calls:>6,} sendMessage received ({(calls - last_calls) / (now - last_report):4.1f}/s "
                  f"over the last {now - last_report:.0f} s); sent {counts['sent']:,}, waiting {counts['waiting']:,}", flush=True)
            last_report, last_calls = now, calls
    seen = time.monotonic() - started
    broadcast.refresh_from_db()
    time.sleep(1)  # any call still in flight lands (none should: done means none waits)
    return {"broadcast": broadcast, "granted": granted.stop(), "counts": counts_of(broadcast), "status": status, "seen_done_after": seen,
            "started_wall": started_wall, "timed_out": status != Broadcast.Status.DONE, "timeout": timeout}


def report(args, api, result: dict, logs: Path) -> bool:
    from projects.models import Subscriber

    broadcast, counts = result["broadcast"], result["counts"]
    calls = api.calls("sendMessage")
    times = sorted(c.arrived_at for c in calls)
    by_chat: dict[str, list[float]] = collections.defaultdict(list)
    for c in calls:
        by_chat[str(c.body.get("chat_id"))].append(c.arrived_at)
    chats = set(Subscriber.objects.filter(project=broadcast.project).values_list("messenger_user_id", flat=True))
    per_chat = collections.Counter({chat: len(at) for chat, at in by_chat.items()})
    twice = sum(1 for n in per_chat.values() if n > 1)
    strangers = len(set(by_chat) - chats)
    missed = len(chats - set(by_chat))
    bot_1s = api.busiest(1.0)
    from django.conf import settings

    window_us = round((1 + max(0.0, settings.TELEGRAM_LIMIT_MARGIN)) * 1_000_000)  # the limiter's window
    bot_window = busiest(times, window_us / 1_000_000)
    chat_1s = max((busiest(sorted(at), 1.0) for at in by_chat.values()), default=0)
    tokens = collections.Counter(c.token for c in calls)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    wall = (broadcast.finished_at.timestamp() - result["started_wall"]) if broadcast.finished_at else result["seen_done_after"]
    # The steady state: whole seconds from the first call, the first and last partial ones aside.
    per_second = collections.Counter(int(t - times[0]) for t in times) if times else collections.Counter()
    steady = sorted(per_second[s] for s in range(1, int(span))) if span > 2 else []
    granted_us = result["granted"]
    granted = [g / 1_000_000 for g in granted_us]
    walls = sorted(c.arrived_wall for c in calls)
    lags = sorted(a - g for a, g in zip(walls, granted, strict=False)) if len(walls) == len(granted) else []
    errors = sum(log.read_text(errors="replace").count("Traceback") for log in logs.glob("worker*.log"))

    print()
    print(f"broadcast {broadcast.pk}: {broadcast.status}, {broadcast.recipients:,} recipients, {args.workers} Celery workers "
          f"({args.pool}{f' × {args.concurrency}' if args.pool == 'threads' else ''})")
    print(f"wall time (created → done): {wall:.1f} s; {args.subscribers / wall:.1f} messages/s overall")
    print(f"at the server: {len(calls):,} sendMessage from first to last in {span:.1f} s = {(len(calls) - 1) / span if span else 0:.1f}/s; "
          f"per whole second: min {steady[0] if steady else 0}, median {steady[len(steady) // 2] if steady else 0}, max {max(steady, default=0)}")
    after_start = [t for t in times if t >= times[0] + 2.0] if times else []
    print(f"busiest 1.0 s for the bot: {bot_1s} (goal ≤ 30); busiest {window_us / 1e6:.1f} s (the limiter's window): {bot_window}; "
          f"busiest 1.0 s from 2 s after the first arrival on: {busiest(after_start, 1.0)}")
    print(f"the limiter's grants (Redis's log, {len(granted):,} seen): busiest 1.0 s {busiest(granted_us, 1_000_000)}, "
          f"busiest {window_us / 1e6:.1f} s {busiest(granted_us, window_us)}"
          + (f"; arrival − grant, matched in order (one out of order next to a pause inflates the max): median {lags[len(lags) // 2] * 1000:.1f} ms, p99 {lags[int(len(lags) * 0.99)] * 1000:.1f} ms, "
             f"min {lags[0] * 1000:.1f} ms, max {lags[-1] * 1000:.1f} ms" if lags else ""))
    if bot_1s > 30:
        show_busiest(times, walls, granted)
    print(f"busiest 1.0 s for any one chat: {chat_1s} (goal ≤ 1)")
    print(f"sendMessage calls {len(calls):,}, distinct chats {len(by_chat):,}, subscribers {len(chats):,}: "
          f"chats messaged twice or more {twice}, subscribers never messaged {missed}, calls to no subscriber {strangers}, "
          f"tokens {dict(tokens) if len(tokens) != 1 or TOKEN not in tokens else 'the bot only'}")
    print(f"broadcast's counts: {counts} (goal: sent {args.subscribers:,}, nothing else); "
          f"attempts per message: {dict(sorted(collections.Counter(broadcast.messages.values_list('attempts', flat=True)).items()))}")
    print(f"tracebacks in the workers' logs: {errors}")

    checks = {
        "finished in time": not result["timed_out"],
        "≤ 30 a second for the bot": bot_1s <= 30,
        "≤ 1 a second per chat": chat_1s <= 1,
        "exactly one message each": len(calls) == len(chats) == len(by_chat) == args.subscribers and twice == 0 and missed == 0 and strangers == 0,
        "counted as sent": counts == {"sent": args.subscribers, "failed": 0, "blocked": 0, "cancelled": 0, "waiting": 0},
    }
    for name, ok in checks.items():
        print(f"  {'✔' if ok else '✘'} {name}")
    if result["timed_out"]:
        print(f"the broadcast was still {result['status']} after {result['timeout']:.0f} s")
    return all(checks.values())


def main() -> None:
    args = parse_args()
    from tests.bot_api import BotApi

    logs = Path(tempfile.mkdtemp(prefix="bench-broadcast-"))
    api = BotApi(tokens={TOKEN}).start()
    # The workers and this process share the environment, SECRET_KEY (the bot token's key) included.
    env = {
        **os.environ, "DATABASE_URL": args.database, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "false",
        "CELERY_BROKER_URL": args.redis, "MESSAGING_LIMITER_URL": args.redis, "CELERY_TASK_ALWAYS_EAGER": "false",
        "TELEGRAM_API_BASE_URL": api.url, "CACHE_URL": "locmemcache://", "EMAIL_URL": "dummymail://", "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    print(f"database {args.database} (fresh), Redis {args.redis} (flushed), Bot API at {api.url}, "
          f"{args.subscribers:,} subscribers, {args.workers} workers; logs in {logs}", flush=True)
    fresh_database(args.database)
    flush_redis(args.redis)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from config.celery import app

    assert not settings.CELERY_TASK_ALWAYS_EAGER and settings.MESSAGING_LIMITER_URL == args.redis
    t0 = time.perf_counter()
    owner, project = setup(args)
    print(f"set up a project with its bot and {args.subscribers:,} subscribers in {time.perf_counter() - t0:.1f} s", flush=True)

    workers: list[subprocess.Popen] = []
    ok = False
    try:
        workers = start_workers(args, env, logs)
        wait_for_workers(app, workers)
        print(f"{len(workers)} workers up; broadcasting (timeout {timeout_for(args.subscribers):.0f} s)", flush=True)
        result = run(args, api, workers, owner, project)
        ok = report(args, api, result, logs)
    finally:
        stop_workers(workers)
        api.stop()
        connection.close()
        flush_redis(args.redis)
        if not args.keep:
            drop_database(args.database)
            if ok:
                for log in logs.glob("*"):
                    log.unlink()
                logs.rmdir()
    if not ok:
        print(f"a goal was missed (the workers' logs: {logs})")
        sys.exit(1)


if __name__ == "__main__":
    main()
