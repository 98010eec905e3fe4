"""Dunning at night (DUN-1..5, CARD-4): collections, suspension, the billing block, recovery, 30 days unpaid."""


import datetime

import pytest
from django.core import mail

from billing import services
from billing.models import PaymentAttempt, Subscription, Wallet
from projects.models import Project
from tests.billing.conftest import balance
from tests.billing.nights import D, failing_pro, run_night, run_nights
from tests.factories import api_as

pytestmark = pytest.mark.django_db


def test_dun1_to_dun4_the_whole_dunning_path_and_recovery_with_a_new_card(db, django_capture_on_commit_callbacks):
    """DUN-1 the night collects the debt; DUN-2 the first failure suspends; DUN-3 the second in a
    row blocks (`billing`) with billing still reachable; DUN-4 a new card pays and lifts both."""
    client = failing_pro()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        run_night(D(2027, 7, 2))  # renewal: $10 debited, the card fails → first failed collection
    client.refresh_from_db()
    assert client.status == "suspended" and balance(client) == -1000
    assert set(Project.objects.filter(owner=client).values_list("status", flat=True)) == {"suspended"}
    assert "could not collect" in mail.outbox[-1].subject
    assert api_as(client).get("/api/v1/billing/").json()["debt_cents"] == 1000
    with django_capture_on_commit_callbacks(execute=True):
        run_night(D(2027, 7, 3))  # the retry fails → blocked
    client.refresh_from_db()
    assert (client.status, client.block_reason) == ("blocked", "billing")
    assert set(Project.objects.filter(owner=client).values_list("status", flat=True)) == {"locked"}
    assert "blocked" in mail.outbox[-1].subject
    # Billing stays reachable: a new card pays the debt and lifts both at once.
    with django_capture_on_commit_callbacks(execute=True):
        assert api_as(client).put("/api/v1/billing/card/", {"token": "tok_visa"}).status_code == 200
    client.refresh_from_db()
    assert client.status == "active" and balance(client) >= 0
    assert set(Project.objects.filter(owner=client).values_list("status", flat=True)) == {"active"}
    assert Wallet.objects.get(client=client).failed_collections == 0
    assert "payment arrived" in mail.outbox[-1].subject


def test_dun4_a_top_up_that_pays_the_debt_lifts_the_suspension(db):
    client = failing_pro()
    run_night(D(2027, 7, 2))
    services.attach_card(client=client, token="tok_chargeCustomerFail", role="backup")  # still failing
    client.refresh_from_db()
    assert client.status == "suspended"
    services.attach_card(client=client, token="tok_mastercard", role="backup")
    client.refresh_from_db()
    assert client.status == "active" and balance(client) >= 0


def test_card4_the_backup_card_rescues_a_collection(db):
    client = failing_pro()
    services.attach_card(client=client, token="tok_visa", role="backup")
    run_night(D(2027, 7, 2))
    client.refresh_from_db()
    assert client.status == "active" and balance(client) == 0
    rescued = PaymentAttempt.objects.get(client=client, kind="charge", status="booked")
    assert rescued.card.role == "backup" and rescued.amount_cents == 900  # the $10 renewal less the backup's $1


def test_dun5_thirty_days_unpaid_ends_pro_deletes_the_card_and_schedules_deletion(db):
    client = failing_pro()
    run_nights(D(2027, 7, 2), D(2027, 7, 31))
    assert Subscription.objects.get(client=client).is_active
    run_night(D(2027, 8, 1))
    subscription = Subscription.objects.get(client=client)
    client.refresh_from_db()
    assert not subscription.is_active and client.tariff == "free"
    assert services.live_card(client) is None and not client.cards.exclude(token="").filter(removed_at__isnull=True).exists()
    assert Wallet.objects.get(client=client).deletion_scheduled_for == D(2027, 8, 31)  # 30 days later


def test_dun5_the_scheduled_deletion_is_carried_out_on_its_date_as_dea5_with_the_debt_a_hold(db, django_capture_on_commit_callbacks):
    from accounts.models import AccountStateChange
    from compliance.models import PrivacyRequest

    client = failing_pro("scheduled@example.com")
    run_night(D(2027, 7, 2))
    run_night(D(2027, 7, 3))
    run_night(D(2027, 8, 1))  # DUN-5: PRO ended, deletion scheduled for 31.08
    run_night(D(2027, 8, 30))
    client.refresh_from_db()
    assert client.status == "blocked" and client.is_active  # not yet: billing stays reachable to pay
    debt = -balance(client)
    run_night(D(2027, 8, 31))
    client.refresh_from_db()
    assert client.status == "deleted" and not client.is_active
    assert AccountStateChange.objects.filter(client=client, to_status="deleted").get().note.startswith("Deleted as scheduled on 2027-08-31")
    assert PrivacyRequest.objects.filter(client=client, kind="erasure", status="open").count() == 1
    assert -balance(client) == debt  # the debt stays, a hold (CMP-2)
    attempts = PaymentAttempt.objects.filter(client=client).count()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        run_night(D(2027, 9, 1))
    assert PaymentAttempt.objects.filter(client=client).count() == attempts and mail.outbox == []
    assert PrivacyRequest.objects.filter(client=client, kind="erasure").count() == 1


def test_dun2_dun3_the_dry_run_says_who_would_be_suspended_or_blocked(db):
    client = failing_pro()
    dry = run_night(D(2027, 7, 2), dry_run=True)
    assert dry.report["totals"]["suspend_if_unpaid"] == [client.pk] and dry.report["totals"]["collect_cents"] == 1000
    run_night(D(2027, 7, 2))
    client.refresh_from_db()
    assert client.status == "suspended"
    assert run_night(D(2027, 7, 3), dry_run=True).report["totals"]["block_if_unpaid"] == [client.pk]
    run_night(D(2027, 7, 3))
    client.refresh_from_db()
    assert client.block_reason == "billing"


def test_dun5_each_dunning_email_is_sent_once_when_the_state_changes_never_again_for_the_same_state(db, django_capture_on_commit_callbacks):
    """Suspended (first failure), blocked (second), deactivated (30 days): one email each, however
    many nights the collection fails in between."""
    client = failing_pro("every-night@example.com")
    mail.outbox.clear()
    day = D(2027, 7, 2)
    while day <= D(2027, 8, 3):
        with django_capture_on_commit_callbacks(execute=True):
            run_night(day)
        day += datetime.timedelta(days=1)
    subjects = [m.subject for m in mail.outbox if m.to == [client.email] and "PRO renewed" not in m.subject]  # NTF-1 tells the renewal too
    assert len(subjects) == 3, subjects
    assert "could not collect" in subjects[0] and "blocked" in subjects[1] and "PRO has ended" in subjects[2]
    wallet = Wallet.objects.get(client=client)
    assert wallet.failed_collections >= 30 and wallet.deletion_scheduled_for == D(2027, 8, 31)


def test_dea5_a_deleted_pro_account_leaves_pro_at_once_and_no_later_night_renews_collects_or_writes_to_it(db, django_capture_on_commit_callbacks):
    """Deleting a PRO account ended nothing: the night renewed the erased account and its dunning
    failed every night. Now PRO ends at the deletion (the wallet's balance is not refunded), and a
    debt that stays a hold is for staff, not for the nights."""
    from billing.models import LedgerEntry
    from tests.factories import PASSWORD

    paying = failing_pro("leaving-pro@example.com")  # PRO, paid from the wallet, a card that fails
    assert Subscription.objects.get(client=paying).is_active
    wallet_before, address = balance(paying), paying.email
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert api_as(paying).delete("/api/v1/me/", {"password": PASSWORD}, format="json").status_code == 204
    paying.refresh_from_db()
    assert paying.status == "deleted" and paying.tariff == "free"
    assert not Subscription.objects.get(client=paying).is_active
    assert balance(paying) == wallet_before  # not refunded (WAL-3); the card could not pay the rest
    assert [m.subject for m in mail.outbox if m.to == [address]] == ["[Chatbot Platform] Your account is deleted"]  # NTF-1, then nothing more
    mail.outbox.clear()
    attempts_before = PaymentAttempt.objects.filter(client=paying).count()
    entries_before = LedgerEntry.objects.filter(wallet__client=paying).count()
    for day in (D(2027, 7, 2), D(2027, 7, 3), D(2027, 8, 1)):
        with django_capture_on_commit_callbacks(execute=True):
            run_night(day)
    assert PaymentAttempt.objects.filter(client=paying).count() == attempts_before  # never charged again
    assert LedgerEntry.objects.filter(wallet__client=paying).count() == entries_before  # never renewed
    assert [m.subject for m in mail.outbox if m.to in ([address], [paying.email])] == []
    assert Wallet.objects.get(client=paying).failed_collections == 0


def test_dea5_the_client_is_told_before_it_confirms_that_the_balance_is_not_refunded_and_its_cards_are_detached(db):
    from billing.models import Card, SandboxCharge
    from tests.factories import PASSWORD

    client = failing_pro("told@example.com")
    services.attach_card(client=client, token="tok_visa", role="backup")
    services.top_up(client=client, amount_cents=2500, idempotency_key="before-leaving")
    api = api_as(client)

    terms = api.get("/api/v1/billing/deletion/").json()

    assert terms["pro_active"] is True and terms["refunded_cents"] == 0 and terms["wallet_balance_cents"] == balance(client) > 0
    assert terms["cards"] == 2
    assert any("is not refunded" in sentence for sentence in terms["consequences"])
    assert any("PRO ends at once" in sentence for sentence in terms["consequences"])
    tokens = list(Card.objects.filter(client=client).exclude(token="").values_list("token", flat=True))

    assert api.delete("/api/v1/me/", {"password": PASSWORD}, format="json").status_code == 204

    detached = set(SandboxCharge.objects.filter(kind="detach").values_list("idempotency_key", flat=True))
    assert detached == {f"detach:{token}" for token in tokens}
    assert not Card.objects.filter(client=client, removed_at__isnull=True).exists()
    assert not Card.objects.filter(client=client).exclude(token="").exists()
    from compliance.models import AuditLog

    assert AuditLog.objects.get(action="billing.cards_detached", client=client).details["unanswered"] == []
