"""Benchmark: the night at 100,000 clients and 1,000,000 subscribers, against PostgreSQL.

    .venv/bin/python bench/night.py          (or: make bench-night)

1. builds a fresh database `platform_bench_night`, migrates it and loads, by COPY, 100,000
   clients (80% Free, 20% PRO spread over monthly/quarterly/yearly periods and anniversaries over
   the past year, 2% of PRO with a card that fails, 30% of PRO with an empty wallet), one project
   each and 1,000,000 subscribers (400 PRO clients over 1,000, a few Free clients over 500);
2. for a typical day: times the bare-SQL floor for the same work (one aggregate count written to
   a table, one set-based renewal of the due subscriptions with their ledger rows; rolled back),
   then the real night (`run_nightly --inline` in a child process, so that its peak memory is its
   own), and prints each step's time, the whole night, the ratio to the floor, peak memory and
   queries per renewed client;
3. the same for a worst day on which every PRO client renews;
4. a real gateway's latency: the sandbox at `--latency-ms` (300) a charge, a sample of the worst
   day's debtors collected as the night's dunning step collects a chunk, one at a time and then
   `BILLING_COLLECTION_CONCURRENCY` (16) at a time, and what that means for all of the day's.
Goals (issues 6 and 12): typical day ≤ 5× the floor, worst day ≤ 10×, peak memory < 300 MB,
queries per renewed client constant; with a gateway at 300 ms, the worst day's collections in
minutes, not half an hour.
"""

import argparse
import contextlib
import datetime
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DAY = datetime.date(2027, 3, 15)  # the typical night
CLIENTS, SUBSCRIBERS = 100_000, 1_000_000


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/platform_bench_night")
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--subscribers", type=int, default=SUBSCRIBERS)
    parser.add_argument("--child", choices=["load", "night", "floor", "fanned", "latency"], help=argparse.SUPPRESS)
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/14", help="Redis for the workers' comparison ('' to skip it)")
    parser.add_argument("--day", help=argparse.SUPPRESS)
    parser.add_argument("--latency-ms", type=int, default=300, help="the sandbox's latency per charge for the collections' sample (0: skip that part)")
    parser.add_argument("--latency-sample", type=int, default=160, help="debtors collected one at a time, and as many others sixteen at a time")
    return parser.parse_args()


def setup_django(database: str) -> None:
    os.environ.update(
        DATABASE_URL=database, DJANGO_SETTINGS_MODULE="config.settings", DEBUG="false", CELERY_BROKER_URL="memory://",
        # Tasks (the emails) are queued, not run inside the night: in production workers send them.
        CELERY_TASK_ALWAYS_EAGER="false", CACHE_URL="locmemcache://", LOG_LEVEL="WARNING", EMAIL_URL="dummymail://",
    )
    import django

    django.setup()


def copy(cursor, table: str, columns: list[str], rows) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as out:
        for row in rows:
            out.write_row(row)


def load(args) -> dict:
    """Fill the database by COPY, streaming (nothing held for all rows at once)."""
    from django.db import connection, transaction

    from billing.models import period_bounds

    rng = random.Random(4242)
    now = datetime.datetime.combine(DAY - datetime.timedelta(days=1), datetime.time(12), tzinfo=datetime.UTC)
    started = time.perf_counter()
    n_pro = args.clients // 5
    big = max(1, n_pro // 50)  # 2% of PRO over 1,000 subscribers
    free_over = 10
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM accounts_client")
        base = cursor.fetchone()[0] + 1
        ids = range(base, base + args.clients)
        pro = set(ids[:n_pro])
        copy(cursor, "accounts_client",
             ["id", "password", "is_superuser", "email", "name", "status", "block_reason", "tariff", "tariff_since",
              "email_verified_at", "age_confirmed_at", "is_staff", "is_active", "date_joined", "language"],
             # Most of the operator's clients read Ukrainian: two in three are told in it (NTF-1).
             ((i, "!", False, f"c{i}@bench.example", f"Client {i}", "active", "", "pro" if i in pro else "free", now, now, now, False, True, now,
               "" if i % 3 == 0 else "uk")
              for i in ids))
        copy(cursor, "billing_wallet", ["id", "client_id", "created_at", "failed_collections"], ((i, i, now, 0) for i in ids))
        copy(cursor, "projects_project",
             ["id", "owner_id", "name", "status", "industry", "review", "public_key", "telegram_webhook_token", "telegram_secret", "created_at"],
             ((i, i, f"Bot {i}", "active", "other", "not_needed", f"pk_b{i}", f"wt{i}", "s", now) for i in ids))
        # Subscribers: the big PRO clients, the rest of PRO, then Free (a few over the Free limit).
        sizes = {}
        remaining = args.subscribers
        for i in ids[:big]:
            sizes[i] = 1_200
        remaining -= 1_200 * big
        for i in ids[-free_over:]:
            sizes[i] = 510
        remaining -= 510 * free_over
        others = [i for i in ids if i not in sizes]
        share = remaining // len(others)
        for i in others:
            sizes[i] = share
        sizes[others[0]] += remaining - share * len(others)
        copy(cursor, "projects_subscriber",
             ["project_id", "messenger", "messenger_user_id", "name", "email", "phone", "status", "source", "consent_at", "consent_source", "subscribed_at"],
             ((i, "", "", "", "", "", "active", "import", now, "bench", now) for i in ids for _ in range(sizes[i])))
        # PRO: subscriptions over the past year, cards, wallets.
        subscriptions, cards, entries, due = [], [], [], 0
        for i in ids[:n_pro]:
            period = rng.choices(["monthly", "quarterly", "yearly"], [70, 20, 10])[0]
            anchor = DAY - datetime.timedelta(days=rng.randint(1, 365))
            index = 1
            while period_bounds(anchor=anchor, period=period, index=index)[1] < DAY - datetime.timedelta(days=1):
                index += 1
            start, end = period_bounds(anchor=anchor, period=period, index=index)
            due += end < DAY
            price = {"monthly": 1000, "quarterly": 2700, "yearly": 9600}[period]
            packages = max(1, -(-sizes[i] // 1000)) - (1 if i in ids[: big // 2] else 0)  # half the big ones get a package added
            subscriptions.append((i, "active", period, max(1, packages), anchor, index, start, end, price, 1, now))
            failing = rng.random() < 0.02
            cards.append((i, "main", "sandbox", f"{'tok_chargeCustomerFail' if failing else 'tok_visa'}:client-{i}", "visa", "4242", 12, 2034, f"fp{i}", now, now))
            if not failing and rng.random() < 0.7:
                entries.append((i, 50_000, "top_up", "Bench top-up", "bench", f"bench:{i}", now))
        copy(cursor, "billing_subscription",
             ["client_id", "status", "period", "packages", "anchor_date", "period_index", "period_start", "period_end", "package_price_cents",
              "activations", "activated_at"], subscriptions)
        copy(cursor, "billing_card",
             ["client_id", "role", "gateway", "token", "brand", "last4", "exp_month", "exp_year", "fingerprint", "verified_at", "created_at"], cards)
        copy(cursor, "billing_ledgerentry", ["wallet_id", "amount_cents", "kind", "description", "reference", "idempotency_key", "created_at"], entries)
    # What the nights before left (issue 16's daily snapshot): last month's MRR rows and this
    # month's as of the night before, so that the typical night updates only the few clients whose
    # MRR changes, as in production from a month's second night on.
    from billing.snapshots import write_snapshot

    for before in (DAY.replace(day=1) - datetime.timedelta(days=1), DAY - datetime.timedelta(days=1)):
        write_snapshot(day=before, at=datetime.datetime.combine(before, datetime.time(23), tzinfo=datetime.UTC))
    # Vacuumed as a production database is: the first reader of freshly copied rows would
    # otherwise pay for their hint bits (the floor, which runs first, more than the night).
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    return {"seconds": time.perf_counter() - started, "due_typical": due, "pro": n_pro}


def worst_day(day: datetime.date) -> None:
    """Every PRO client's period ends the day before `day`."""
    from django.db import connection

    with connection.cursor() as cursor:
        for period, months in (("monthly", 1), ("quarterly", 3), ("yearly", 12)):
            cursor.execute(
                "UPDATE billing_subscription SET anchor_date = (%s::date - %s * interval '1 month')::date, period_index = 1, "
                "period_start = (%s::date - %s * interval '1 month')::date, period_end = %s::date WHERE period = %s AND status = 'active'",
                [day - datetime.timedelta(days=1), months, day - datetime.timedelta(days=1), months, day - datetime.timedelta(days=1), period],
            )
        cursor.execute("VACUUM (ANALYZE) billing_subscription")


def floor(day: datetime.date) -> dict:
    """The bare-SQL floor: one aggregate count written to a table, one set-based renewal of the
    due subscriptions with their ledger rows, their foreign keys checked as a commit checks them
    (`SET CONSTRAINTS ALL IMMEDIATE`: Django's are deferred to the commit, which a rollback never
    reaches). Rolled back: the real night finds the same state."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with connection.cursor() as cursor:
        try:
            with transaction.atomic():
                cursor.execute(
                    "CREATE TEMP TABLE floor_counts AS SELECT p.owner_id, count(*) AS n FROM projects_subscriber s "
                    "JOIN projects_project p ON p.id = s.project_id WHERE s.status = 'active' GROUP BY p.owner_id"
                )
                counted = time.perf_counter()
                cursor.execute(
                    "WITH due AS (UPDATE billing_subscription SET period_index = period_index + 1, period_start = period_end + 1, "
                    "period_end = (period_end + CASE period WHEN 'monthly' THEN interval '1 month' WHEN 'quarterly' THEN interval '3 months' "
                    "ELSE interval '12 months' END)::date WHERE status = 'active' AND period_end < %s RETURNING client_id, packages * package_price_cents AS fee) "
                    "INSERT INTO billing_ledgerentry (wallet_id, amount_cents, kind, description, reference, idempotency_key, created_at) "
                    "SELECT w.id, -due.fee, 'fee', 'floor', 'floor', 'floor:' || due.client_id, now() FROM due JOIN billing_wallet w ON w.client_id = due.client_id",
                    [day],
                )
                renewed = cursor.rowcount
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
    done = time.perf_counter()
    return {"count": counted - started, "renewal": done - counted, "total": done - started, "renewed": renewed}


@contextlib.contextmanager
def profiled():
    """With BENCH_PROFILE=file, the night's cProfile statistics go to that file (for `python -m pstats`)."""
    target = os.environ.get("BENCH_PROFILE")
    if not target:
        yield
        return
    import cProfile

    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        profile.dump_stats(target)


def night(day: datetime.date) -> dict:
    """The real night, inline, counting its queries."""
    import threading

    from django.db import connection
    from django.db.backends.signals import connection_created

    from billing.models import NightlyStep
    from billing.night import run_nightly
    from core.clock import night_of

    queries, counting = [0], threading.Lock()

    def count(execute, sql, params, many, context):
        if not threading.current_thread().name.startswith("collect-"):  # the sandbox gateway's own, not the night's
            with counting:
                queries[0] += 1
        return execute(sql, params, many, context)

    # Every connection's statements: the night's chunks run on connections of their own too
    # (NIGHT_INLINE_CONCURRENCY).
    def count_on(sender, connection, **kwargs):
        connection.execute_wrappers.append(count)

    connection_created.connect(count_on, weak=False)
    if connection.connection is not None:
        connection.execute_wrappers.append(count)

    import time_machine
    from django.urls import reverse

    # The worker that runs the night has its URLconf loaded (the notices' links are reversed):
    # loaded here before the clock starts, as in any worker that has served a task.
    reverse("dashboard:billing")
    # …and, as a worker does at its start (config/celery.py), its start-up objects frozen.
    from core.process import freeze_startup_objects

    freeze_startup_objects()
    # …and every app's tasks imported, its producer made, as a worker has (the night's notices
    # are handed to Celery after each chunk's commit).
    from celery import current_app

    current_app.loader.import_default_modules()
    with current_app.producer_or_acquire():
        pass

    # The clock at that night, ticking, as the beat would run it (entries dated that night, the
    # audit log sealed through the day before, as every night does).
    with time_machine.travel(night_of(day), tick=True):
        started = time.perf_counter()
        with profiled():
            run = run_nightly(at=night_of(day), inline=True)
        seconds = time.perf_counter() - started
    steps = {s.name: {"seconds": s.seconds, "clients": s.clients, "failures": len(s.failures)} for s in NightlyStep.objects.filter(run=run)}
    return {"seconds": seconds, "steps": steps, "queries": queries[0], "status": run.status}


def fanned(day: datetime.date) -> dict:
    """The real night with its chunks on Celery workers (the broker from the environment)."""
    import time_machine

    from billing.models import NightlyStep
    from billing.night import run_nightly
    from core.clock import night_of

    with time_machine.travel(night_of(day), tick=True):
        started = time.perf_counter()
        run = run_nightly(at=night_of(day))
        seconds = time.perf_counter() - started
    steps = {s.name: {"seconds": s.seconds, "clients": s.clients, "failures": len(s.failures)} for s in NightlyStep.objects.filter(run=run)}
    return {"seconds": seconds, "steps": steps, "status": run.status}


def compare_workers(args, first_day: datetime.date) -> list[tuple[int, dict]]:
    """A worst day with one Celery worker, then another with two: the chunks fan out to them."""
    env = {**os.environ, "DATABASE_URL": args.database, "DJANGO_SETTINGS_MODULE": "config.settings", "CELERY_BROKER_URL": args.broker,
           "CACHE_URL": "locmemcache://", "EMAIL_URL": "dummymail://", "LOG_LEVEL": "WARNING", "NIGHT_QUEUE": "bench-night"}
    import redis

    redis.Redis.from_url(args.broker).flushdb()  # the mail earlier runs queued for workers nobody started
    results = []
    for n, day in ((1, first_day), (2, first_day + datetime.timedelta(days=1))):
        worst_day(day)
        workers = [subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-n", f"bench{k}@%h", "-Q", "bench-night",
                                     "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=WARNING"],
                                    cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for k in range(n)]
        try:
            time.sleep(4)
            out = subprocess.run([sys.executable, __file__, "--database", args.database, "--child", "fanned", "--day", day.isoformat(), "--broker", args.broker],
                                 cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
            if out.returncode:
                sys.exit(out.stderr[-4000:])
            results.append((n, json.loads(out.stdout.strip().splitlines()[-1])))
        finally:
            for worker in workers:
                worker.terminate()
                worker.wait(timeout=30)
    return results


def latency(day: datetime.date, ms: int, sample: int) -> dict:
    """A sample of a worst day's collections with the sandbox at `ms` a charge: debtors made as the
    night makes them (their renewal debits an empty wallet), then collected as the dunning step
    collects a chunk (`night.process`), `sample` of them one at a time, as many others at the
    configured concurrency. Times per collection, and the whole day's at that rate."""
    import time_machine
    from django.conf import settings

    from billing.models import Card, LedgerEntry, Subscription
    from billing.night import Night, process
    from billing.payments import stop_collectors
    from core.clock import night_of
    from projects.selectors import active_subscribers_by_owner

    worst_day(day)
    funded = LedgerEntry.objects.filter(kind="top_up").values("wallet__client_id")
    cards = Card.objects.filter(token__startswith="tok_visa", removed_at__isnull=True).values("client_id")
    debtors = list(Subscription.objects.filter(status="active", client_id__in=cards).exclude(client_id__in=funded)
                   .order_by("client_id").values_list("client_id", flat=True)[: 2 * sample])
    night = Night(day=day, at=night_of(day), counts=active_subscribers_by_owner())
    concurrency = settings.BILLING_COLLECTION_CONCURRENCY
    result = {"day_collections": None, "runs": []}
    with time_machine.travel(night.at, tick=True):
        process("renewals", debtors, night)
        settings.SANDBOX_LATENCY_MS = ms
        try:
            for n, ids in ((1, debtors[:sample]), (concurrency, debtors[sample:])):
                settings.BILLING_COLLECTION_CONCURRENCY = n
                started = time.perf_counter()
                outcome = process("dunning", ids, night)
                result["runs"].append({"concurrency": n, "collections": len(ids), "seconds": time.perf_counter() - started,
                                       "charged": outcome["charged"], "failures": len(outcome["failures"])})
        finally:
            stop_collectors()
    return result


def child(args, what: str, day: datetime.date | None = None) -> dict:
    command = [sys.executable, __file__, "--database", args.database, "--clients", str(args.clients), "--subscribers", str(args.subscribers),
               "--latency-ms", str(args.latency_ms), "--latency-sample", str(args.latency_sample), "--child", what]
    if day:
        command += ["--day", day.isoformat()]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        sys.exit(out.stderr[-4000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    args = parse_args()
    if args.child:
        if args.child == "fanned":
            os.environ.update(DATABASE_URL=args.database, DJANGO_SETTINGS_MODULE="config.settings", LOG_LEVEL="WARNING",
                              CACHE_URL="locmemcache://", EMAIL_URL="dummymail://")
            import django

            django.setup()
        else:
            setup_django(args.database)
        day = datetime.date.fromisoformat(args.day) if args.day else None
        result = {"load": lambda: load(args), "floor": lambda: floor(day), "night": lambda: night(day), "fanned": lambda: fanned(day),
                  "latency": lambda: latency(day, args.latency_ms, args.latency_sample)}[args.child]()
        if args.child == "night":
            result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result, default=str))
        return

    import psycopg

    name = args.database.rsplit("/", 1)[1]
    with psycopg.connect(args.database.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": args.database, "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    loaded = child(args, "load")
    print(f"loaded {args.clients:,} clients and {args.subscribers:,} subscribers by COPY in {loaded['seconds']:.1f} s "
          f"({loaded['pro']:,} PRO, {loaded['due_typical']:,} due on the typical day)")
    worst = DAY + datetime.timedelta(days=1)
    rows = []
    for label, day in (("typical day", DAY), ("worst day", worst)):
        if label == "worst day":
            setup_django(args.database)
            worst_day(worst)
        base = child(args, "floor", day)
        real = child(args, "night", day)
        renewed = real["steps"]["renewals"]["clients"]
        rows.append((label, base, real, renewed))
    print()
    for label, base, real, renewed in rows:
        ratio = real["seconds"] / base["total"]
        goal = 5 if label == "typical day" else 10
        print(f"{label}: night {real['seconds']:.1f} s ({real['status']}), floor {base['total']:.2f} s (count {base['count']:.2f} s, "
              f"renewal of {base['renewed']:,} {base['renewal']:.2f} s) → {ratio:.1f}× (goal ≤ {goal}×); "
              f"peak memory {real['peak_mb']:.0f} MB (goal < 300); "
              f"{real['queries'] / max(renewed, 1):.2f} queries per renewed client ({real['queries']:,} queries, {renewed:,} renewed)")
        for step, figures in real["steps"].items():
            print(f"    {step:<10} {figures['seconds'] or 0:7.2f} s  {figures['clients']:>7,} clients  {figures['failures']} failures")
    if args.latency_ms:
        sampled = child(args, "latency", worst + datetime.timedelta(days=3))
        day_collections = rows[-1][2]["steps"]["dunning"]["clients"]
        print(f"\nthe worst day's collections with the sandbox at {args.latency_ms} ms a charge (a sample of its debtors, "
              f"collected as the dunning step collects a chunk):")
        for run in sampled["runs"]:
            each = run["seconds"] / max(run["collections"], 1)
            print(f"    {run['concurrency']:>2} at a time: {run['collections']} collections in {run['seconds']:.1f} s, {each * 1000:.0f} ms each "
                  f"(${run['charged'] / 100:,.2f} collected, {run['failures']} failures) → the day's {day_collections:,} in about {each * day_collections / 60:.1f} min")
    if args.broker:
        print()
        compared = compare_workers(args, worst + datetime.timedelta(days=1))
        for n, result in compared:
            renewals = result["steps"]["renewals"]
            print(f"worst day on {n} Celery worker{'s' if n > 1 else ''} (Redis): night {result['seconds']:.1f} s ({result['status']}), "
                  f"renewals {renewals['seconds'] or 0:.1f} s for {renewals['clients']:,} clients, dunning {result['steps']['dunning']['seconds'] or 0:.1f} s")
        if len(compared) == 2:
            print(f"two workers / one worker: {compared[1][1]['seconds'] / compared[0][1]['seconds']:.2f} (goal < 1)")


if __name__ == "__main__":
    main()
