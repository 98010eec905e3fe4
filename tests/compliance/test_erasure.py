"""CMP-2 erasure and DEA-5 account deletion: afterwards no personal value of the person remains in
any text column of any table, while ledger sums and invoice totals are unchanged; erasure waits
while a debt is unpaid."""

import datetime

import pytest
import time_machine
from django.db import connection
from django.db.models import Sum
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services as accounts
from billing import ledger
from billing import services as billing
from billing.models import Invoice, LedgerEntry
from compliance.erasure import erase_person
from compliance.models import PrivacyRequest
from compliance.sealing import seal_audit_log, verify_audit_log
from compliance.services import receive_complaint, receive_privacy_request
from core.exceptions import RuleRefused
from tests.factories import PASSWORD, add_member, api_as, make_client, make_project, make_subscriber

pytestmark = pytest.mark.django_db
EMAIL, NAME = "zebulon.quixote@example.com", "Zebulon Quixote"


def rows_mentioning(*needles: str) -> list[tuple[str, str]]:
    """Every (table, column) in the database where any text of a row contains a needle."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            for column in connection.introspection.get_table_description(cursor, table):
                name = connection.ops.quote_name(column.name)
                for needle in needles:
                    cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)} WHERE LOWER(CAST({name} AS TEXT)) LIKE %s",  # noqa: S608
                                   [f"%{needle.lower()}%"])
                    if cursor.fetchone()[0]:
                        found.append((table, column.name))
    return found


@pytest.fixture
def person(db, other_account, staff):
    client = make_person(other_account, staff)
    today = timezone.now().date()
    with time_machine.travel(timezone.now() + datetime.timedelta(days=2)):
        seal_audit_log(through=today)  # a sealed past day for the erasure to redact and seal again
    assert rows_mentioning(EMAIL, NAME)  # there is something to erase
    return client


def make_person(other_account, staff):
    client = make_client(email=EMAIL, name=NAME)
    accounts.mark_email_verified(client=client, email=EMAIL)
    billing.attach_card(client=client, token="tok_visa")
    billing.activate_pro(client=client, period="monthly")
    billing.top_up(client=client, amount_cents=2500)
    own = make_project(owner=client, name=f"{NAME}'s bot")
    make_subscriber(project=own, email="fan@example.org", name="A Fan")
    theirs = make_project(owner=other_account, name="Bo's bot")
    add_member(project=theirs, client=client, subscribers="view")
    make_subscriber(project=theirs, email=EMAIL, name=NAME)
    receive_complaint(complainant=client, identification=f"{NAME}, {EMAIL}", description="Spam from a bot.", period_start="2026-11-01",
                      period_end="2026-11-02")
    receive_privacy_request(client=client, kind="access", details=f"{NAME} asks for everything.")
    from django.contrib.admin.models import ADDITION, LogEntry
    from django.contrib.contenttypes.models import ContentType

    LogEntry.objects.create(user=staff, content_type=ContentType.objects.get_for_model(type(client)), object_id=str(client.pk),
                            object_repr=EMAIL, action_flag=ADDITION)
    return client


def totals() -> tuple[int, int]:
    return (LedgerEntry.objects.aggregate(t=Sum("amount_cents"))["t"], Invoice.objects.aggregate(t=Sum("total_cents"))["t"])


def test_cmp2_dea5_after_deletion_no_personal_value_remains_anywhere(person):
    before = totals()
    with time_machine.travel(timezone.now() + datetime.timedelta(days=2)):
        response = api_as(person).delete("/api/v1/me/", {"password": PASSWORD}, format="json")
    assert response.status_code == 204
    waiting = list(PrivacyRequest.objects.filter(kind="erasure").values_list("details", flat=True))
    assert waiting == []
    left = rows_mentioning(EMAIL, NAME)
    assert left == [], left
    assert totals() == before  # ledger sums and invoice totals kept for tax
    assert Invoice.objects.filter(client=person).exists()
    assert verify_audit_log() == []  # redacted by the sanctioned path and sealed again
    assert APIClient().post("/api/v1/auth/token/", {"email": EMAIL, "password": PASSWORD}, format="json").status_code == 401
    again = APIClient().post("/api/v1/auth/register/", {"name": "New", "email": EMAIL, "password": "another-long-pass-9", "accept_terms": True,
                                                        "age_confirmed": True}, format="json")
    assert again.status_code == 201  # the address can register again, as a new account


def test_cmp2_erasure_waits_while_a_debt_is_unpaid(db):
    debtor = make_client(email="debtor.unique@example.com", name="Dora Debtor")
    billing.attach_card(client=debtor, token="tok_chargeCustomerFail")
    wallet = billing.wallet_of(debtor)
    ledger.post(wallet, amount=-1500, kind="fee", description="Unpaid fee", reference="t", key="debt-erasure")
    with pytest.raises(RuleRefused) as held:
        erase_person(client=debtor)
    assert held.value.code == "legal_hold" and "debt" in held.value.detail
    assert api_as(debtor).delete("/api/v1/me/", {"password": PASSWORD}, format="json").status_code == 204
    debtor.refresh_from_db()
    assert not debtor.is_active and debtor.email == "debtor.unique@example.com"  # closed, not yet erased
    assert PrivacyRequest.objects.filter(client=debtor, kind="erasure", status="open").exists()


def test_dea5_a_debt_the_card_can_pay_is_charged_first_then_the_data_goes(db):
    payer = make_client(email="payer.unique@example.com", name="Pat Payer")
    billing.attach_card(client=payer, token="tok_visa")
    ledger.post(billing.wallet_of(payer), amount=-1500, kind="fee", description="Unpaid fee", reference="t", key="debt-paid")
    assert api_as(payer).delete("/api/v1/me/", {"password": PASSWORD}, format="json").status_code == 204
    assert billing.balance_cents(billing.wallet_of(payer)) >= 0
    assert rows_mentioning("payer.unique@example.com", "Pat Payer") == []


def test_cmp2_fulfilling_an_erasure_request_erases(db, staff):
    from compliance.services import decide_privacy_request

    client = make_client(email="requester.unique@example.com", name="Rita Requester")
    request = receive_privacy_request(client=client, kind="erasure")
    decide_privacy_request(request=request, fulfilled=True, note="Done.", actor=staff)
    assert rows_mentioning("requester.unique@example.com", "Rita Requester") == []
    assert PrivacyRequest.objects.get(pk=request.pk).status == "fulfilled"


def test_cmp7_the_nights_retention_deletes_what_outlived_its_window_and_records_it(db):
    import datetime as dt

    from billing.night import run_nightly
    from compliance.models import AuditLog, CookieConsent
    from core.clock import night_of
    from projects.models import TelegramUpdate

    project = make_project(owner=make_client(email="bot@example.com"))
    now = timezone.now()
    TelegramUpdate.objects.create(project=project, update_id=1, received_at=now - dt.timedelta(days=3))
    TelegramUpdate.objects.create(project=project, update_id=2, received_at=now)
    old = CookieConsent.objects.create(visitor="old", updated_at=now - dt.timedelta(days=400))
    CookieConsent.objects.create(visitor="new")
    day = timezone.now().date() + dt.timedelta(days=1)
    with time_machine.travel(night_of(day), tick=False):
        run_nightly(at=night_of(day))
    assert list(TelegramUpdate.objects.values_list("update_id", flat=True)) == [2]
    assert not CookieConsent.objects.filter(pk=old.pk).exists() and CookieConsent.objects.filter(visitor="new").exists()
    entry = AuditLog.objects.filter(action="retention.run").latest("created_at")
    assert entry.details["deleted"] == {"cookie consents": 1, "expired exports": 0, "telegram update ids": 1}


def test_cmp2_an_erasure_staff_grant_closes_the_account_with_its_state_history_as_a_deletion_does(db, staff):
    from accounts.models import AccountStateChange
    from compliance.models import AuditLog
    from compliance.services import decide_privacy_request

    client = make_client(email="granted.unique@example.com", name="Gus Granted")
    request = receive_privacy_request(client=client, kind="erasure")
    decide_privacy_request(request=request, fulfilled=True, note="Done.", actor=staff)
    client.refresh_from_db()
    assert client.status == "deleted" and not client.is_active
    [change] = AccountStateChange.objects.filter(client=client)
    assert (change.from_status, change.to_status) == ("active", "deleted") and "erasure" in change.note
    assert AuditLog.objects.filter(client=client, action="account.deleted").exists()
    assert rows_mentioning("granted.unique@example.com", "Gus Granted") == []  # the history names no one
