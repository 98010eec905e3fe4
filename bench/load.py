"""Benchmark: the Telegram webhook and the busiest API reads at the same time, against gunicorn on
PostgreSQL and Redis (issue 17, item 7).

    .venv/bin/python bench/load.py            (or: make bench-load)

One run (2–4 minutes with the defaults: 20 s a phase, 3 to 8 phases):
1. builds a fresh database `bench_load` on the local PostgreSQL and migrates it; a PRO client
   (card, monthly period, a wallet with 2,000 ledger entries, its invoices) with an API key and a
   project whose bot is connected (so every `/start` is handed to the funnel runtime's Celery
   task, as in production), holding 10,000 subscribers;
2. starts its own redis-server on 127.0.0.1:56381 (the Celery broker in db 0, the cache that
   holds the API keys' rate limits in db 1: shared by the workers, as in production; no Celery
   worker, so every task the webhook queued stays there to be counted) and gunicorn (`--workers`
   sync workers, `DEBUG=false`, persistent database connections, settings `bench.settings`: the
   platform's own plus the bare view) on a free loopback port;
3. drives, from threads of this process (stdlib `http.client`; open-loop requests timed from the
   moment they were due, so that a server falling behind shows its queue in the latencies):
   - the API reads with a Bearer key: `GET /api/v1/billing/`, `GET /api/v1/projects/<id>/subscribers/`,
     `GET /api/v1/billing/ledger/`;
   - the webhook: real Bot API `Update`s (python-telegram-bot), each a new `update_id` and a new
     person sending `/start`, and every 20th one an update sent a moment before (Telegram's
     re-delivery, sometimes while the first is still in flight);
   - saturation: every operation back to back, the webhook on `--connections` (8), each read on
     `--read-connections` (1); then the same with the bare view (bench/urls.py: parse the JSON,
     insert one row; same server, same middleware) in the webhook's place: the ratio;
   - the load it holds: everything at fixed rates, `--rate` requests a second in all, each read
     `--read-share` (10 %) of them and the webhook the rest; by default 0.7 of the saturation's
     throughput, lowered until every operation's p99 is under 50 ms;
4. prints throughput and p50/p95/p99/max per operation and phase, then checks that every update
   answered 200 is stored exactly once, its person subscribed exactly once and handed to the
   funnel exactly once (its task in Redis, or still in the outbox), and that nothing else was stored.
The generator (bench/loadgen.py) is the bench's own, not locust: stdlib threads with `http.client`
take less of the two cores from the server they measure (httpx costs about three times the CPU per
request), nothing is monkey-patched (gevent), and the open loop is a few lines.
Goals (issue 17): webhook ≥ 0.5× the bare view under the mixed load, p99 < 50 ms for every
operation at the load the machine holds, nothing lost. Exits 1 when an update is lost or doubled.
"""

import argparse
import base64
import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.loadgen import PLACEHOLDER, Flow, Get, Load, Updates, drive, show  # noqa: E402 (the path above first)
from bench.webhook import fresh_database, wait_for_port  # noqa: E402

P99_GOAL_MS, RATIO_GOAL = 50.0, 0.5
FUNNEL_QUEUE = "celery"  # the default queue the funnel's task goes to
FUNNEL_TASK = "projects.tasks.take_update"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/bench_load")
    parser.add_argument("--duration", type=float, default=20, help="seconds per phase")
    parser.add_argument("--rate", type=float, help="requests a second of the held load, all operations (default: found from the saturation)")
    parser.add_argument("--read-share", type=float, default=0.1, help="each API read's share of the held load (the webhook has the rest)")
    parser.add_argument("--read-connections", type=int, default=1, help="each API read's connections at saturation")
    parser.add_argument("--connections", type=int, default=8, help="the webhook's (and the bare view's) connections at saturation")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--redis-port", type=int, default=56381)
    parser.add_argument("--no-bot", action="store_true", help="a project without a bot: /start only subscribes, nothing goes to a funnel")
    parser.add_argument("--keep-db", action="store_true", help="keep the database afterwards (dropped by default)")
    return parser.parse_args(argv)


# --- nothing lost ------------------------------------------------------------------------------------


def verify_updates(*, project_id: int, accepted: set[int], unknown: set[int], queued_users: list[str] | None) -> dict:
    """Every update answered 200 stored exactly once, its person subscribed exactly once (and,
    when `queued_users` is given, handed to the funnel exactly once); nothing stored that was
    never accepted, except updates whose every answer failed (`unknown`: maybe stored, maybe
    not, Telegram would send them again). The person of update n is user n (the bench's Updates)."""
    from django.db.models import Count

    from projects.models import Subscriber, TelegramUpdate

    stored_rows = list(TelegramUpdate.objects.filter(project_id=project_id).values_list("update_id", flat=True))
    stored = set(stored_rows)
    people = dict(
        Subscriber.objects.filter(project_id=project_id, messenger=Subscriber.Messenger.TELEGRAM, source=Subscriber.Source.TELEGRAM)
        .values_list("messenger_user_id").annotate(n=Count("id")).values_list("messenger_user_id", "n")
    )
    report = {
        "accepted": len(accepted), "unknown": len(unknown), "stored": len(stored_rows),
        "missing": len(accepted - stored),
        "stored_twice": len(stored_rows) - len(stored),
        "stored_never_accepted": len(stored - accepted - unknown),
        "not_subscribed": sum(1 for u in accepted if people.get(str(u), 0) == 0),
        "subscribed_twice": sum(1 for n in people.values() if n > 1),
        "subscribed_never_stored": len(set(people) - {str(u) for u in stored}),
    }
    if queued_users is not None:
        handed: dict[str, int] = {}
        for user in queued_users:
            handed[user] = handed.get(user, 0) + 1
        report.update({
            "queued": len(queued_users),
            "not_queued": sum(1 for u in stored if str(u) not in handed),
            "queued_twice": sum(1 for n in handed.values() if n > 1),
            "queued_never_stored": len(set(handed) - {str(u) for u in stored}),
        })
    bad = [k for k in report if k.startswith(("missing", "stored_", "not_", "subscribed_", "queued_")) and report[k]]
    report["ok"] = not bad
    return report


def queued_funnel_users(redis_url: str, queue: str = FUNNEL_QUEUE) -> list[str]:
    """The `user` of every funnel task waiting in the broker (kombu's Redis transport keeps a queue
    as a list of JSON envelopes, the body base64 JSON `[args, kwargs, embed]`)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        users = []
        for raw in client.lrange(queue, 0, -1):
            envelope = json.loads(raw)
            args = json.loads(base64.b64decode(envelope["body"]))[0]
            if envelope.get("headers", {}).get("task") == FUNNEL_TASK:
                users.append(str(args[1]["user"]))
        return users
    finally:
        client.close()


def pending_funnel_users(project_id: int) -> list[str]:
    """The `user` of every funnel task still in the outbox (issue 17, item 5: written with the
    update, relayed to the broker after the commit; a row not relayed yet is not lost)."""
    from core.models import OutboxMessage

    rows = OutboxMessage.objects.filter(task=FUNNEL_TASK, relayed_at__isnull=True).values_list("args", flat=True)
    return [str(args[1]["user"]) for args in rows if args[0] == project_id]


# --- set-up --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(port: int, workdir: str) -> subprocess.Popen:
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", port)) == 0:
            sys.exit(f"something already listens on 127.0.0.1:{port}: the bench starts its own redis-server there (--redis-port)")
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, "redis-server")
    return server


def seed(args):
    """A PRO client as production has them (a verified email, a card, a monthly period paid, top-ups,
    history in the ledger), its API key, and a project with its bot and `--subscribers` people."""
    from django.db import connection
    from django.utils import timezone

    from accounts import services as accounts
    from accounts.models import ApiKey, Client
    from bench.urls import BARE_TABLE
    from billing import services as billing
    from billing.ledger import wallet_of
    from core.crypto import encrypt
    from projects import services as projects
    from projects.models import ProjectBot, Subscriber

    now = timezone.now()
    owner = accounts.register_client(name="Bench Owner", email="bench-load@example.com", password="bench-password-1", accept_terms=True, age_confirmed=True)
    Client.objects.filter(pk=owner.pk).update(email_verified_at=now)
    owner.refresh_from_db()
    billing.attach_card(client=owner, token="tok_visa", actor=owner)
    billing.activate_pro(client=owner, period="monthly", actor=owner)
    for n in range(5):
        billing.top_up(client=owner, amount_cents=2_500, idempotency_key=f"bench-top-up-{n}", actor=owner)
    project = projects.create_project(owner=owner, name="Bench load bot")
    if not args.no_bot:
        ProjectBot.objects.create(project=project, token_encrypted=encrypt("777002:AAH-bench-load-token-0123456789ab"), bot_id=777002,
                                  username="bench_load_bot", name="Bench load bot")
    _, key = accounts.create_api_key(client=owner, name="bench", actor=owner)
    ApiKey.objects.filter(client=owner).update(rate_limit_per_minute=100_000)  # the most staff may give (ACC-5)
    with connection.cursor() as cursor:
        # The imported people: their messenger ids empty, so none is mistaken for a webhook's.
        with cursor.copy(f"COPY {Subscriber._meta.db_table} (project_id, messenger, messenger_user_id, name, email, phone, status, source, "
                         "consent_at, consent_source, subscribed_at) FROM STDIN") as copy:
            for n in range(args.subscribers):
                copy.write_row((project.pk, "", "", f"Person {n}", f"p{n}@example.org", "", "active", "import", now, "bench", now))
        wallet = wallet_of(owner)
        with cursor.copy("COPY billing_ledgerentry (wallet_id, amount_cents, kind, description, reference, idempotency_key, created_at) FROM STDIN") as copy:
            for n in range(2_000):
                copy.write_row((wallet.pk, 100, "top_up", "Bench top-up", "bench", f"bench-ledger-{n}", now - datetime.timedelta(hours=n)))
        cursor.execute(f"CREATE TABLE {BARE_TABLE} (id bigserial PRIMARY KEY, update_id bigint NOT NULL, received_at timestamptz DEFAULT now())")
        cursor.execute("ANALYZE")
    connection.close()

    return project, key, update_template()


def update_template() -> str:
    """A real Update, as python-telegram-bot builds it: a person's /start, PLACEHOLDER standing for
    the update_id and the person's id (the same number, so that update n comes from user n)."""
    from telegram import Chat, Message, MessageEntity, Update, User

    person = User(id=int(PLACEHOLDER), first_name="Bench", last_name="Person", is_bot=False)
    return Update(
        update_id=int(PLACEHOLDER),
        message=Message(
            message_id=int(PLACEHOLDER), date=datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC),
            chat=Chat(id=int(PLACEHOLDER), type="private"), from_user=person, text="/start",
            entities=[MessageEntity(type="bot_command", offset=0, length=6)],
        ),
    ).to_json()


# --- the run -------------------------------------------------------------------------------------


def main(argv=None) -> None:
    args = parse_args(argv)
    port = free_port()
    redis_url = f"redis://127.0.0.1:{args.redis_port}"
    env = {
        **os.environ, "DATABASE_URL": args.database, "DJANGO_SETTINGS_MODULE": "bench.settings", "DEBUG": "false",
        "CONN_MAX_AGE": "600", "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Logged as in production: one JSON access line a request (to a file here, to stdout there).
        "LOG_LEVEL": "INFO", "LOG_FORMAT": "json",
        "CELERY_BROKER_URL": f"{redis_url}/0", "CELERY_RESULT_BACKEND": "", "CACHE_URL": f"{redis_url}/1",
        "API_KEY_RATE_LIMIT_PER_MINUTE": "100000", "EMAIL_URL": "dummymail://",
    }
    os.environ.update(env)
    print(f"database {args.database} (fresh), redis-server :{args.redis_port}, gunicorn :{port} with {args.workers} sync workers; "
          f"{args.duration:.0f} s a phase; " + ("a project without a bot" if args.no_bot else "the project's bot runs funnels"),
          flush=True)
    workdir = tempfile.mkdtemp(prefix="bench-load-")
    redis_server = start_redis(args.redis_port, workdir)
    server = None
    try:
        fresh_database(args.database)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        import django

        django.setup()
        project, key, template = seed(args)
        log_path = Path(workdir) / "gunicorn.log"
        with open(log_path, "w") as log:
            server = subprocess.Popen(
                [str(Path(sys.executable).parent / "gunicorn"), "config.wsgi", "-w", str(args.workers), "-b", f"127.0.0.1:{port}",
                 "--log-level", "warning", "--timeout", "60"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        wait_for_port(port, "gunicorn")
        ok = run_phases(args, port, project, key, template, redis_url)
        show_server_errors(log_path)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        redis_server.terminate()
        redis_server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
        if not args.keep_db:
            from django.db import connections

            connections.close_all()
            fresh_database(args.database, create=False)
    sys.exit(0 if ok else 1)


def _level(line: str) -> str | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None  # gunicorn's own lines, a traceback's
    return record.get("level") if isinstance(record, dict) else None


def show_server_errors(log_path: Path) -> None:
    """The server's own errors, if it logged any (its access lines are left out)."""
    lines = log_path.read_text(errors="replace").splitlines()
    errors = [line for line in lines if _level(line) not in ("INFO", "DEBUG")]
    print(f"server log: {len(lines)} lines, {len(errors)} not INFO" + (" (the first ten below)" if errors else ""))
    for line in errors[:10]:
        print("  " + line[:300])


def run_phases(args, port: int, project, key: str, template: str, redis_url: str) -> bool:
    auth = {"Authorization": f"Bearer {key}"}
    secret = {"X-Telegram-Bot-Api-Secret-Token": project.telegram_secret}
    reads = [
        Get("GET /billing/", "/api/v1/billing/", auth),
        Get("GET /projects/<id>/subscribers/", f"/api/v1/projects/{project.pk}/subscribers/", auth),
        Get("GET /billing/ledger/", "/api/v1/billing/ledger/", auth),
    ]
    hook = Updates("POST webhook", project.telegram_webhook_path, secret, template, first_id=1_000_000_000)
    bare = Updates("POST bare view (floor)", "/bench/bare/", {}, template, first_id=9_000_000_000)
    hook_share = 1 - len(reads) * args.read_share

    def mix(writer: Flow, total: float | None) -> list[Load]:
        """The reads and a writer: at `total` a second split by the shares (enough threads that a
        request never waits for one while the server keeps up), or all closed-loop."""
        if total is None:
            return [*(Load(flow, args.read_connections) for flow in reads), Load(writer, args.connections)]
        rates = [total * args.read_share] * len(reads) + [total * hook_share]
        return [Load(flow, max(4, int(rate * 0.05)), rate) for flow, rate in zip([*reads, writer], rates, strict=True)]

    # Every worker warmed: its connections to PostgreSQL and Redis made, its URLconf and code loaded.
    drive(port, mix(hook, 40) + mix(bare, 20)[-1:], 3)
    with_hook = drive(port, mix(hook, None), args.duration)
    show(f"saturation: every operation back to back (the webhook on {args.connections} connections, each read on {args.read_connections})", with_hook)
    with_bare = drive(port, mix(bare, None), args.duration)
    show("saturation: the bare view in the webhook's place", with_bare)
    saturated, floor = with_hook[-1].rps, with_bare[-1].rps
    ratio = saturated / floor if floor else 0.0
    capacity = sum(r.rps for r in with_hook)

    rate = args.rate or max(5.0, float(int(0.7 * capacity)))
    for _step in range(1 if args.rate else 6):
        held = drive(port, mix(hook, rate), args.duration)
        show(f"held load: {rate:.0f} req/s, the webhook {100 * hook_share:.0f} %, each read {100 * args.read_share:.0f} %", held)
        worst_p99 = max(r.percentile(99) for r in held)
        if worst_p99 < P99_GOAL_MS or args.rate or rate <= 5:
            break
        rate = max(5.0, float(int(rate * (0.8 if worst_p99 < 2 * P99_GOAL_MS else 0.6))))

    from django.db import connection

    time.sleep(1)  # the last on_commit hand-offs of answered requests
    queued = pending = None
    if not args.no_bot:
        queued, pending = queued_funnel_users(f"{redis_url}/0"), pending_funnel_users(project.pk)
    report = verify_updates(project_id=project.pk, accepted=hook.accepted, unknown=hook.unknown, queued_users=None if args.no_bot else queued + pending)
    connection.close()
    print()
    print(f"webhook / bare view under the mixed load: {saturated:.0f} / {floor:.0f} req/s = {ratio:.2f} "
          f"{'✔' if ratio >= RATIO_GOAL else '✘'} (goal ≥ {RATIO_GOAL}); saturation, all operations: {capacity:.0f} req/s")
    print(f"held: {rate:.0f} req/s ({sum(r.rps for r in held):.0f} answered a second), the worst p99 {worst_p99:.1f} ms "
          f"{'✔' if worst_p99 < P99_GOAL_MS else '✘'} (goal < {P99_GOAL_MS:.0f} ms for every operation)")
    funnel = "no bot: none handed to a funnel" if args.no_bot else f"{len(queued)} funnel tasks in the broker, {len(pending)} still in the outbox"
    print(f"updates: {report['accepted']} accepted ({hook.duplicates} of the requests re-sent an update), {report['stored']} stored, "
          f"{report['unknown']} never answered 200; {funnel}")
    print("nothing lost, nothing twice: " + ("yes ✔" if report["ok"] else f"NO ✘ {report}"))
    return report["ok"]


if __name__ == "__main__":
    main()
