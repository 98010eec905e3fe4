"""Benchmark: the Telegram webhook and the 10,000-row import, against gunicorn on PostgreSQL.

    .venv/bin/python bench/webhook.py            (or: make bench)

One run, bounded in time (about a minute with the defaults):
1. builds a fresh database `platform_bench` on the local PostgreSQL and migrates it;
2. starts gunicorn (two sync workers) on loopback with the platform's settings plus one bare view
   that parses the JSON and inserts one row (bench/urls.py): the floor to compare with;
3. drives the bare view and then the webhook with wrk, each update a new update_id and a new
   person sending /start, and reports requests per second and p50/p99 latency for both;
4. checks that every update the webhook accepted is stored exactly once (and that re-sending a
   sample of them changes nothing);
5. times the 10,000-row import through the API next to a bare COPY of the same rows into the same
   table, best of three each.
Goals (issue 4): webhook ≥ half the bare view's throughput, p99 < 50 ms; import ≤ 4× the COPY.
"""

import argparse
import datetime
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LUA = r"""
local counter = 0
local base = 0
local tid = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  base = tonumber(args[1])
end
request = function()
  counter = counter + 1
  local n = base + tid * 10000000 + counter
  local body = string.gsub(TEMPLATE, "424242", tostring(n))
  return wrk.format("POST", nil, HEADERS, body)
end
"""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/platform_bench")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per view")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (it shares the machine with the server)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--port", type=int, default=8765)
    return parser.parse_args()


def need_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is not installed; trying `apt-get install -y wrk` ...", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is needed (Debian/Ubuntu: apt-get install wrk).")
    return found


def fresh_database(url: str, *, create: bool = True) -> None:
    """The database of `url` dropped (its sessions closed) and, unless `create` is false, made anew."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')


def wait_for_port(port: int, what: str = "gunicorn", timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    sys.exit(f"{what} did not start on port {port}")


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def run_wrk(wrk: str, url: str, *, template: str, headers: dict, base: int, args, duration: int) -> dict:
    script = LUA.replace("TEMPLATE", json.dumps(template)).replace("HEADERS", "{" + ", ".join(f'["{k}"] = "{v}"' for k, v in headers.items()) + "}")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    out = subprocess.run(
        [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{duration}s", "--latency", "-s", f.name, url, "--", str(base)],
        capture_output=True, text=True, check=True,
    ).stdout
    os.unlink(f.name)
    latency = {p: float(v) * UNITS[u] for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    errors = sum(int(x) for x in m.groups()) if (m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)) else 0
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": latency.get("50"), "p99_ms": latency.get("99"),
        "requests": requests, "ok": requests - non2xx, "non2xx": non2xx, "socket_errors": errors,
    }


def post(port: int, path: str, body: bytes, headers: dict) -> tuple[int, bytes, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.perf_counter()
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
    response = conn.getresponse()
    data = response.read()
    elapsed = time.perf_counter() - started
    conn.close()
    return response.status, data, elapsed


def main() -> None:
    args = parse_args()
    wrk = need_wrk()
    env = {
        **os.environ, "DATABASE_URL": args.database, "DJANGO_SETTINGS_MODULE": "bench.settings", "DEBUG": "false",
        "CONN_MAX_AGE": "600", "ALLOWED_HOSTS": "127.0.0.1,localhost", "CELERY_BROKER_URL": "", "CACHE_URL": "locmemcache://",
    }
    os.environ.update(env)
    print(f"database {args.database} (fresh), gunicorn with {args.workers} sync workers, wrk -t{args.threads} -c{args.connections}", flush=True)
    fresh_database(args.database)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)

    import django

    django.setup()
    from django.db import connection
    from telegram import Chat, Message, MessageEntity, Update, User

    from accounts import services as accounts
    from accounts.models import ApiKey, Client
    from bench.urls import BARE_TABLE
    from projects import services as projects
    from projects.models import Subscriber, TelegramUpdate

    owner = accounts.register_client(name="Bench Owner", email="bench@example.com", password="bench-password-1", accept_terms=True, age_confirmed=True)
    Client.objects.filter(pk=owner.pk).update(tariff=Client.Tariff.PRO)
    owner.refresh_from_db()
    project = projects.create_project(owner=owner, name="Bench bot")
    _, key = accounts.create_api_key(client=owner, name="bench", actor=owner)
    ApiKey.objects.filter(client=owner).update(rate_limit_per_minute=1_000_000)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {BARE_TABLE} (id bigserial PRIMARY KEY, update_id bigint NOT NULL, received_at timestamptz DEFAULT now())")
    connection.close()

    # A real Update, as python-telegram-bot builds it; 424242 is replaced per request.
    person = User(id=424242, first_name="Bench", last_name="Person", is_bot=False)
    template = Update(
        update_id=424242,
        message=Message(
            message_id=424242, date=datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC),
            chat=Chat(id=424242, type="private"), from_user=person, text="/start",
            entities=[MessageEntity(type="bot_command", offset=0, length=6)],
        ),
    ).to_json()

    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "config.wsgi", "-w", str(args.workers), "-b", f"127.0.0.1:{args.port}", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )
    try:
        wait_for_port(args.port)
        base_url = f"http://127.0.0.1:{args.port}"
        secret = {"X-Telegram-Bot-Api-Secret-Token": project.telegram_secret, "Content-Type": "application/json"}
        plain = {"Content-Type": "application/json"}
        bare_url, hook_url = f"{base_url}/bench/bare/", f"{base_url}{project.telegram_webhook_path}"

        run_wrk(wrk, bare_url, template=template, headers=plain, base=1_000_000_000, args=args, duration=2)  # warm-up
        warm = run_wrk(wrk, hook_url, template=template, headers=secret, base=2_000_000_000, args=args, duration=2)
        bare = run_wrk(wrk, bare_url, template=template, headers=plain, base=3_000_000_000, args=args, duration=args.duration)
        hook = run_wrk(wrk, hook_url, template=template, headers=secret, base=4_000_000_000, args=args, duration=args.duration)

        # Every accepted update stored exactly once (once the last requests in flight have landed).
        accepted = warm["ok"] + hook["ok"]
        settle(lambda: (TelegramUpdate.objects.filter(project=project).count(), Subscriber.objects.filter(project=project).count()))
        stored = TelegramUpdate.objects.filter(project=project).count()
        subscribed = Subscriber.objects.filter(project=project, status="active").count()
        in_flight = 2 * args.connections  # answered after wrk stopped counting: stored, not counted
        once = accepted <= stored <= accepted + in_flight and subscribed == stored
        sample = list(TelegramUpdate.objects.filter(project=project).values_list("update_id", flat=True)[:300])
        replays = [post(args.port, project.telegram_webhook_path, template.replace("424242", str(u)).encode(), secret)[0] for u in sample]
        replay_ok = set(replays) == {200} and TelegramUpdate.objects.filter(project=project).count() == stored
        replay_ok = replay_ok and Subscriber.objects.filter(project=project).count() == subscribed

        # The 10,000-row import through the API, next to a bare COPY of the same rows.
        import_times, copy_times = [], []
        for attempt in range(3):
            target = projects.create_project(owner=owner, name=f"Import {attempt}")
            rows = [{"name": f"Person {n}", "email": f"p{attempt}-{n}@example.org", "phone": f"+1415555{n:04d}"} for n in range(10_000)]
            body = json.dumps({"consent_confirmed": True, "subscribers": rows}).encode()
            status, answer, elapsed = post(args.port, f"/api/v1/projects/{target.pk}/subscribers/import/", body, {"Authorization": f"Bearer {key}"})
            assert status == 200 and json.loads(answer)["created"] == 10_000, (status, answer[:300])
            import_times.append(elapsed)
            copy_target = projects.create_project(owner=owner, name=f"Copy {attempt}")
            copy_times.append(bare_copy(copy_target, rows))
        connection.close()
    finally:
        server.terminate()
        server.wait(timeout=30)

    ratio = hook["rps"] / bare["rps"] if bare["rps"] else 0
    import_best, copy_best = min(import_times), min(copy_times)
    print()
    print(f"{'':24}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'requests':>10}{'non-2xx':>9}")
    for label, r in (("bare view (floor)", bare), ("telegram webhook", hook)):
        print(f"{label:24}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['requests']:>10}{r['non2xx']:>9}")
    print(f"webhook / bare throughput: {ratio:.2f} (goal ≥ 0.50)   webhook p99: {hook['p99_ms']:.1f} ms (goal < 50)")
    print(f"stored exactly once: {'yes' if once else 'NO'} ({accepted} accepted, {stored} stored, {subscribed} subscribed); "
          f"300 re-sent changed nothing: {'yes' if replay_ok else 'NO'}")
    print(f"import of 10,000 rows: {import_best * 1000:.0f} ms; bare COPY: {copy_best * 1000:.0f} ms; "
          f"ratio {import_best / copy_best:.1f}× (goal ≤ 4×)")
    if not (once and replay_ok):
        sys.exit(1)


def settle(read, *, pause: float = 0.5, timeout: float = 10) -> None:
    """Wait until `read()` gives the same twice in a row."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        now = read()
        if now == last:
            return
        last = now
        time.sleep(pause)


def bare_copy(project, rows) -> float:
    """COPY the same rows into the same table (its indexes and constraints too), nothing else."""
    from django.db import connection, transaction
    from django.utils import timezone

    from projects.models import Subscriber

    now = timezone.now()
    columns = ["project_id", "messenger", "messenger_user_id", "name", "email", "phone", "status", "source", "consent_at", "consent_source", "subscribed_at"]
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.copy(f"COPY {Subscriber._meta.db_table} ({', '.join(columns)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row((project.pk, "", "", r["name"], r["email"], r["phone"], "active", "import", now, "bench", now))
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
