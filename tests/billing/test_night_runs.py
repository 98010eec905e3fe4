"""The run itself: twice, late, dry (WAL-7), a failure, a kill, retention (DEA-2), the admin, the beat."""

import datetime

import pytest
import time_machine
from django.core.management import call_command

from accounts.models import Client
from billing import services
from billing.models import Invoice, LedgerEntry, NightlyRun, PaymentAttempt, Subscription
from billing.night import apply as night_apply
from billing.night import run as night_run
from core.clock import night_of
from projects.models import Project, Subscriber
from tests.billing.conftest import verified
from tests.billing.nights import D, renewals, run_night, subscribers, travel
from tests.factories import api_as, make_client, make_project

pytestmark = pytest.mark.django_db


def test_night_twice_changes_nothing_and_a_late_run_bills_the_same_day(payer):
    with travel(D(2027, 9, 1)):
        services.top_up(client=payer, amount_cents=5000)
        services.activate_pro(client=payer, period="monthly")
    with time_machine.travel(datetime.datetime(2027, 10, 2, 14, tzinfo=datetime.UTC), tick=False):  # 13 hours late
        call_command("run_nightly")
        entries = LedgerEntry.objects.count()
        call_command("run_nightly")
    assert LedgerEntry.objects.count() == entries
    assert NightlyRun.objects.filter(night=D(2027, 10, 2)).count() == 2
    assert Subscription.objects.get().period_start == D(2027, 10, 2)


def test_wal7_the_dry_run_changes_nothing_and_predicts_what_the_real_run_does(payer):
    project = make_project(owner=payer)
    with travel(D(2027, 3, 1)):
        services.top_up(client=payer, amount_cents=500)
        services.activate_pro(client=payer, period="monthly")
    subscribers(project, 1500)
    free = make_client(email="free@example.com")
    subscribers(make_project(owner=free), 600)
    other = verified("renewing@example.com")
    services.attach_card(client=other, token="tok_visa")
    with travel(D(2027, 2, 1)):
        services.activate_pro(client=other, period="monthly")  # due for renewal on the night of 02.03
    before = (LedgerEntry.objects.count(), Invoice.objects.count(), PaymentAttempt.objects.count(), Client.objects.filter(status="blocked").count())
    with time_machine.travel(night_of(D(2027, 3, 2)) - datetime.timedelta(hours=3), tick=False):
        upcoming = api_as(payer).get("/api/v1/billing/upcoming/").json()
    dry = run_night(D(2027, 3, 2), dry_run=True)
    assert (LedgerEntry.objects.count(), Invoice.objects.count(), PaymentAttempt.objects.count(), Client.objects.filter(status="blocked").count()) == before
    predicted = dry.report["totals"]
    assert predicted["free_limit_blocks"] == [free.pk]
    tonight = next(d for d in dry.report["packages"] if d["client_id"] == payer.pk)
    assert tonight["amount_cents"] == upcoming["tonight"]["amount_cents"]  # one computation for both
    real = run_night(D(2027, 3, 2))
    steps = {s.name: s for s in real.steps.all()}
    assert steps["packages"].charged_cents + steps["renewals"].charged_cents == predicted["charged_cents"]
    assert steps["packages"].credited_cents == predicted["credited_cents"]
    assert steps["dunning"].charged_cents == predicted["collect_cents"]
    assert sorted(Client.objects.filter(block_reason="free_limit").values_list("pk", flat=True)) == predicted["free_limit_blocks"]


def test_a_failure_for_one_client_is_recorded_and_the_next_run_completes_it(payer, monkeypatch, caplog):
    second = verified("second@example.com")
    services.attach_card(client=second, token="tok_visa")
    for client in (payer, second):
        with travel(D(2027, 5, 1)):
            services.activate_pro(client=client, period="monthly")
    original = night_apply.WRITERS["renewals"]

    def broken(client_ids, night):
        if payer.pk in client_ids:
            raise RuntimeError("injected")  # the chunk fails, then the payer alone: the second is renewed
        return original(client_ids, night)

    monkeypatch.setitem(night_apply.WRITERS, "renewals", broken)
    run = run_night(D(2027, 6, 2))
    step = run.steps.get(name="renewals")
    # Both on the night's record: the set-based chunk that failed (then done one by one), and the client.
    assert step.clients == 1 and [f["client"] for f in step.failures] == [None, payer.pk]
    assert "chunk failed" in step.failures[0]["error"] and "2 clients" in step.failures[0]["chunk"]
    assert all("injected" in f["error"] for f in step.failures)
    logged = [r.getMessage() for r in caplog.records if r.name == "billing.night"]
    assert any("the chunk (2 clients" in m for m in logged) and any(f"client {payer.pk} failed" in m for m in logged)
    assert Subscription.objects.get(client=second).period_index == 2 and Subscription.objects.get(client=payer).period_index == 1
    monkeypatch.setitem(night_apply.WRITERS, "renewals", original)
    run_night(D(2027, 6, 2))
    assert Subscription.objects.get(client=payer).period_index == 2 and Subscription.objects.get(client=second).period_index == 2
    assert len(renewals(payer)) == len(renewals(second)) == 1


def test_a_run_killed_between_chunks_and_run_again_bills_everyone_once(db, monkeypatch):
    clients = []
    for n in range(4):
        client = verified(f"chunk{n}@example.com")
        services.attach_card(client=client, token="tok_visa")
        with travel(D(2027, 5, 1)):
            services.activate_pro(client=client, period="monthly")
        clients.append(client)
    monkeypatch.setattr(night_run, "CHUNK", 1)
    original, calls = night_run.process, []

    def dies_after_two_chunks(step, ids, night):
        if step == "renewals" and len(calls) == 2:
            raise KeyboardInterrupt  # the process is killed here
        if step == "renewals":
            calls.append(ids)
        return original(step, ids, night)

    monkeypatch.setattr(night_run, "process", dies_after_two_chunks)
    with pytest.raises(KeyboardInterrupt):
        run_night(D(2027, 6, 2))
    assert sum(len(renewals(c)) for c in clients) == 2
    monkeypatch.setattr(night_run, "process", original)
    run_night(D(2027, 6, 2))
    assert [len(renewals(c)) for c in clients] == [1, 1, 1, 1]
    assert NightlyRun.objects.filter(status="failed").count() == 1


def test_dea2_retention_deletes_archived_projects_after_the_window(payer):
    project = make_project(owner=payer)
    subscribers(project, 3)
    with travel(D(2027, 5, 1)):
        services.activate_pro(client=payer, period="monthly")
        services.deactivate_pro(client=payer, confirm=True)
    run_night(D(2027, 5, 30))
    assert Project.objects.get(pk=project.pk).deleted_at is None
    run_night(D(2027, 6, 2))
    assert Project.objects.get(pk=project.pk).deleted_at is not None and not Subscriber.objects.filter(project=project).exists()


def test_the_admin_shows_each_night_and_runs_it_again(client, staff, payer):
    with travel(D(2027, 5, 1)):
        services.activate_pro(client=payer, period="monthly")
    run = run_night(D(2027, 6, 2))
    client.force_login(staff)
    page = client.get(f"/admin/billing/nightlyrun/{run.pk}/change/")
    assert page.status_code == 200 and b"renewals" in page.content
    client.post("/admin/billing/nightlyrun/", {"action": "rerun", "_selected_action": [run.pk], "post": "yes"})
    assert NightlyRun.objects.filter(night=D(2027, 6, 2)).count() == 2 and len(renewals(payer)) == 1


def test_the_beat_runs_the_night_at_01_00_utc_plus_2():
    from config.celery import app

    entry = app.conf.beat_schedule["run-nightly"]
    assert entry["task"] == "billing.tasks.nightly"
    assert entry["schedule"].hour == {23} and entry["schedule"].minute == {0}  # 23:00 UTC = 01:00 UTC+2


def test_run_nightly_refuses_a_time_without_an_offset(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("run_nightly", at="2027-01-01T01:00:00")
    assert not NightlyRun.objects.exists()
