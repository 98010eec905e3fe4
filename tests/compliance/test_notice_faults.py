"""Issue 17, item 5, for CMP-1's legal notices and NTF-1's notices: a client is marked told only
once its email went, a batch chain resumes after any failure (Redis down between batches, the
mail server down mid-batch), and every client is told exactly once. Against a Redis of the test's
own (tests/faults.py) and a mail server that can be down (tests/mailers.py)."""

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts import services as accounts_services
from accounts.models import Notice
from compliance import services
from compliance.models import LegalDocument, LegalNotice
from compliance.tasks import notify_document
from core.models import OutboxMessage
from tests import faults, mailers
from tests.factories import make_client
from tests.faults import relay, run_queued

own_redis, broker, flaky_mail = faults.own_redis, faults.broker, mailers.flaky_mail  # the fault fixtures, found by name

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

CLIENTS = 9
BATCH = 3  # three batches, as 450 clients are three batches of 200


@pytest.fixture
def readers(flaky_mail, monkeypatch):
    monkeypatch.setattr(services, "NOTICE_BATCH", BATCH)
    return [make_client(email=f"reader{n}@example.com") for n in range(CLIENTS)]


def told_by_email(version: str) -> Counter:
    return Counter(m.to[0] for m in mail.outbox if version in m.subject)


def assert_everyone_told_once(readers, document) -> None:
    assert told_by_email(document.version) == Counter({r.email: 1 for r in readers})
    assert sorted(LegalNotice.objects.filter(document=document).values_list("client_id", flat=True)) == sorted(r.pk for r in readers)


def test_issue17_publishing_with_redis_down_succeeds_at_once_and_everyone_is_told_when_redis_is_back(broker, readers, staff, client):
    client.force_login(staff)
    assert client.get("/admin/compliance/legaldocument/add/").status_code == 200  # the admin's first page is slow to render, Redis or not
    broker.kill()
    started = time.monotonic()
    response = client.post("/admin/compliance/legaldocument/add/", {"kind": "terms", "version": "2.0", "title": "Terms of Use", "body": "New.",
                                                                   "post": "yes"})
    assert response.status_code == 302 and time.monotonic() - started < 2
    document = LegalDocument.objects.get(kind="terms", version="2.0")
    assert OutboxMessage.objects.filter(task=services.NOTIFY_TASK, relayed_at__isnull=True).count() == 1
    assert not LegalNotice.objects.filter(document=document).exists() and told_by_email("2.0") == Counter()
    # Publishing the same version again is refused (it is published, and its notices are kept);
    # a new version is not, Redis down or not.
    with pytest.raises(ValidationError):
        services.publish_document(kind="terms", version="2.0", title="Terms of Use", body="Again.", actor=staff)
    services.publish_document(kind="privacy", version="1.1", title="Privacy Policy", body="New.", actor=staff)

    broker.start()
    assert relay() == 2
    run_queued()
    assert_everyone_told_once(readers, document)
    assert_everyone_told_once(readers, LegalDocument.objects.get(kind="privacy", version="1.1"))


def test_issue17_redis_down_between_batches_loses_no_client(broker, readers, staff):
    document = services.publish_document(kind="terms", version="2.0", title="Terms of Use", body="New.", actor=staff)
    assert run_queued(rounds=1) == [services.NOTIFY_TASK]  # the first batch; the next one is queued
    assert LegalNotice.objects.filter(document=document).count() == BATCH
    broker.kill()  # the blip: the queued next batch is lost with Redis (it keeps nothing)
    assert notify_document(document.pk) == BATCH  # a batch run while Redis is down keeps its follower in the outbox
    assert OutboxMessage.objects.filter(task=services.NOTIFY_TASK, relayed_at__isnull=True).count() == 1

    broker.start()
    relay()
    run_queued()
    assert LegalNotice.objects.filter(document=document).count() == CLIENTS
    assert_everyone_told_once(readers, document)
    assert services.resume_document_notices() == 0  # nobody left: the safety net starts nothing


def test_issue17_a_chain_lost_with_the_broker_is_resumed_by_the_sweep(broker, readers, staff):
    document = services.publish_document(kind="terms", version="2.0", title="Terms of Use", body="New.", actor=staff)
    run_queued(rounds=1)
    broker.kill()
    broker.start()  # the next batch, relayed already, went with Redis
    assert run_queued() == []
    assert LegalNotice.objects.filter(document=document).count() == BATCH

    assert services.resume_document_notices() == 1  # beat's resume-document-notices
    relay()
    run_queued()
    assert_everyone_told_once(readers, document)


def test_issue17_smtp_down_mid_batch_marks_only_who_was_emailed_and_the_rest_is_told_after(broker, readers, staff, flaky_mail):
    flaky_mail.fail_after = 2
    document = services.publish_document(kind="terms", version="2.0", title="Terms of Use", body="New.", actor=staff)
    assert run_queued(rounds=1) == [services.NOTIFY_TASK]
    told = list(LegalNotice.objects.filter(document=document).values_list("client__email", flat=True))
    assert sorted(told) == sorted(told_by_email("2.0")) and len(told) == 2  # the third was not marked: its email did not go
    later = OutboxMessage.objects.filter(task=services.NOTIFY_TASK).order_by("-pk").first()
    assert later.args == [document.pk, 1] and later.eta > timezone.now()  # the same batch again, after a backoff

    flaky_mail.reset()
    run_queued()
    assert_everyone_told_once(readers, document)


def test_issue17_a_notice_is_marked_emailed_only_once_it_went_and_retried_until_it_does(broker, flaky_mail):
    ada = make_client(email="ada@example.com")
    flaky_mail.down = True
    notice = accounts_services.notify(client=ada, kind=Notice.Kind.ACCOUNT_BLOCKED, event="blocked:1", subject="Blocked", lines=["You are blocked."])
    assert run_queued(rounds=1) == ["accounts.tasks.send_notice"]
    notice.refresh_from_db()
    assert notice.emailed_at is None and mail.outbox == [] and flaky_mail.refused == 1

    flaky_mail.down = False
    assert run_queued() == ["accounts.tasks.send_notice"]  # its retry, from the broker
    notice.refresh_from_db()
    assert notice.emailed_at is not None and [m.to for m in mail.outbox] == [["ada@example.com"]]


def test_issue17_notices_left_unsent_are_mailed_by_the_sweep_once(flaky_mail):
    ada = make_client(email="ada@example.com")
    old = Notice.objects.create(client=ada, kind=Notice.Kind.ACCOUNT_BLOCKED, event="blocked:2", subject="Blocked", body="x",
                                created_at=timezone.now() - timedelta(minutes=30))
    fresh = Notice.objects.create(client=ada, kind=Notice.Kind.ACCOUNT_UNBLOCKED, event="unblocked:2", subject="Unblocked", body="y")
    flaky_mail.down = True
    assert accounts_services.send_pending_notices() == 0  # the mail server is still down: nothing marked
    old.refresh_from_db()
    assert old.emailed_at is None

    flaky_mail.down = False
    assert accounts_services.send_pending_notices() == 1
    assert accounts_services.send_pending_notices() == 0
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.emailed_at is not None and fresh.emailed_at is None  # the fresh one is its own task's to send
    assert [m.to for m in mail.outbox] == [["ada@example.com"]] and "Blocked" in mail.outbox[0].subject
