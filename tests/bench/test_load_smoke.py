"""issue 17, item 7: bench/load.py's own machinery, small and quick. The bench itself runs outside the
suite (`make bench-load`); here its load generator is driven against a stub server that records what
it received, and its check of "nothing lost" is run against updates stored by the real webhook."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.load import update_template, verify_updates
from bench.loadgen import PLACEHOLDER, Get, Load, Updates, drive, percentile
from projects.models import Subscriber, TelegramUpdate
from tests.factories import make_project

REFUSED_EVERY = 7  # the stub answers 503 to update_ids divisible by this, 200 to the others


class Stub(BaseHTTPRequestHandler):
    """Answers and closes, as gunicorn's sync workers do. Records every update_id it was sent."""

    seen: list
    delay = 0.0

    def do_POST(self):
        update_id = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["update_id"]
        self.seen.append(update_id)
        self._answer(503 if update_id % REFUSED_EVERY == 0 else 200)

    def do_GET(self):
        time.sleep(self.delay)
        self.seen.append("GET")
        self._answer(200)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def stub():
    handler = type("Handler", (Stub,), {"seen": [], "delay": 0.0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1], handler
    server.shutdown()
    server.server_close()


def test_percentile_is_nearest_rank():
    """issue 17: p50/p95/p99 as the bench reports them."""
    values = [float(v) for v in range(100, 0, -1)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99), percentile(values, 100)) == (50, 95, 99, 100)
    assert percentile([7.0], 99) == 7.0


def test_open_loop_sends_its_rate_and_counts_every_answer(stub):
    """issue 17: at a fixed rate the generator sends exactly rate × duration requests, counts each
    answer by its status, re-sends some updates on purpose, and knows which were accepted."""
    port, handler = stub
    updates = Updates("webhook", "/hook/", {}, update_template(), first_id=1_000)
    reads = Get("read", "/read/", {})
    hook_result, read_result = drive(port, [Load(updates, connections=4, rate=200), Load(reads, connections=2, rate=50)], 1.0)

    posted = [u for u in handler.seen if u != "GET"]
    assert hook_result.requests == len(posted) == 200
    assert read_result.requests == handler.seen.count("GET") == 50 and read_result.failed == 0
    refused = [u for u in posted if u % REFUSED_EVERY == 0]
    assert hook_result.statuses == {200: 200 - len(refused), 503: len(refused)}
    assert hook_result.failed == len(refused) and hook_result.ok == 200 - len(refused)
    assert updates.duplicates == 200 - len(set(posted)) >= 9  # every 20th after the first few re-sends one
    assert updates.accepted == {u for u in posted if u % REFUSED_EVERY}
    assert updates.unknown == set(refused)


def test_latency_counts_from_when_a_request_was_due(stub):
    """issue 17: a server slower than the offered rate shows its queue in the latencies (the
    generator does not wait for it and then time only the request)."""
    port, handler = stub
    handler.delay = 0.05  # 20 a second on one connection, offered 40
    (result,) = drive(port, [Load(Get("slow", "/slow/", {}), connections=1, rate=40)], 0.5)
    assert result.requests == 20
    # Each is served in ~50 ms; the last was due at 0.475 s and served after the 19 before it (~1 s).
    assert max(result.latencies_ms) > 400 and max(result.late_ms) > 350


def test_closed_loop_sends_back_to_back(stub):
    port, handler = stub
    (result,) = drive(port, [Load(Get("read", "/read/", {}), connections=2)], 0.3)
    assert result.requests == handler.seen.count("GET") > 5 and result.failed == 0 and result.offered is None


@pytest.mark.django_db
def test_verify_finds_every_accepted_update_once_and_what_is_missing(client, client_account):
    """issue 17: the bench's "nothing lost" check, on updates stored by the real webhook: all there
    once; an accepted one missing, one stored that was never accepted, a hand-off missing or twice:
    each reported."""
    project = make_project(owner=client_account)
    template = update_template()
    sent = [501, 502, 503, 504, 502]  # 502 re-sent, as Telegram does
    for update_id in sent:
        answer = client.post(project.telegram_webhook_path, data=template.replace(PLACEHOLDER, str(update_id)), content_type="application/json",
                             HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=project.telegram_secret)
        assert answer.status_code == 200
    accepted = set(sent)
    users = [str(u) for u in sorted(accepted)]
    report = verify_updates(project_id=project.pk, accepted=accepted, unknown=set(), queued_users=users)
    assert report["ok"] and report["accepted"] == report["stored"] == report["queued"] == 4

    assert not verify_updates(project_id=project.pk, accepted=accepted, unknown=set(), queued_users=[*users, "503"])["ok"]  # handed twice
    assert verify_updates(project_id=project.pk, accepted=accepted, unknown=set(), queued_users=users[1:])["not_queued"] == 1
    # 504 answered 503 (say): stored all the same is allowed, as Telegram would send it again.
    assert not verify_updates(project_id=project.pk, accepted=accepted - {504}, unknown=set(), queued_users=None)["ok"]
    assert verify_updates(project_id=project.pk, accepted=accepted - {504}, unknown={504}, queued_users=None)["ok"]

    TelegramUpdate.objects.filter(project=project, update_id=503).delete()
    Subscriber.objects.filter(project=project, messenger_user_id="503").delete()
    lost = verify_updates(project_id=project.pk, accepted=accepted, unknown=set(), queued_users=None)
    assert not lost["ok"] and lost["missing"] == 1 and lost["not_subscribed"] == 1
