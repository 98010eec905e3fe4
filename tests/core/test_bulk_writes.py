"""The night's fast writes (issue 12): ids reserved before the rows exist, rows inserted by COPY on
PostgreSQL (bulk_create elsewhere), membership sent as one array, month arithmetic by hand. Each
checked on whichever database the suite runs on (SQLite in `make test`, PostgreSQL in CI)."""

import datetime

import pytest
from dateutil.relativedelta import relativedelta
from django.db import IntegrityError, transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.models import Card, ClientNight, PaymentAttempt, Wallet
from compliance.audit import audit_row, record_rows
from compliance.models import AuditLog
from core.bulk import insert, insert_rows, reserve_ids
from core.clock import add_months
from core.sql import array_param, update_rows
from tests.factories import make_client

pytestmark = pytest.mark.django_db


def test_reserved_ids_are_never_given_again_and_rows_can_name_each_other_before_they_exist(db):
    first, second = reserve_ids(AuditLog, 3), reserve_ids(AuditLog, 2)
    assert len(set(first + second)) == 5 and first == sorted(first) and min(second) > max(first)
    client = make_client(email="bulk@example.com")
    with transaction.atomic():
        insert_rows(AuditLog, [{"id": pk, "action": "test.bulk", "client_id": client.pk, "details": {"n": n}} for n, pk in enumerate(first)])
    rows = AuditLog.objects.filter(action="test.bulk").order_by("id")
    assert list(rows.values_list("id", flat=True)) == first
    assert [r.details for r in rows] == [{"n": 0}, {"n": 1}, {"n": 2}]  # JSON as JSON
    entry = AuditLog.objects.create(action="test.after")  # the table's own counter went past them
    assert entry.pk not in first + second


def test_rows_without_ids_take_the_defaults_and_a_failed_batch_leaves_nothing(db):
    client = make_client(email="nights@example.com")
    day = datetime.date(2027, 3, 1)
    insert_rows(ClientNight, [{"client_id": client.pk, "night": day, "step": step} for step in ("packages", "renewals")])
    marks = ClientNight.objects.filter(client=client)
    assert sorted(marks.values_list("step", flat=True)) == ["packages", "renewals"] and all(m.done_at is not None for m in marks)
    with pytest.raises(IntegrityError), transaction.atomic():  # the same mark twice: the whole batch refused
        insert_rows(ClientNight, [{"client_id": client.pk, "night": day, "step": "dunning"}, {"client_id": client.pk, "night": day, "step": "renewals"}])
    assert marks.count() == 2
    with pytest.raises(ValueError):
        insert_rows(ClientNight, [{"id": 1, "client_id": client.pk, "night": day, "step": "a"}, {"client_id": client.pk, "night": day, "step": "b"}])


def test_objects_inserted_get_their_ids_and_audit_rows_read_as_entries(db):
    client = make_client(email="objects@example.com")
    entries = [AuditLog(action="test.object", client=client, details={"k": n}) for n in range(3)]
    insert(entries)
    assert all(e.pk for e in entries) and not entries[0]._state.adding
    assert AuditLog.objects.get(pk=entries[1].pk).details == {"k": 1}
    record_rows([audit_row(action="test.row", client_id=client.pk, target_type="accounts.client", target_id=client.pk, target_label="x" * 300)])
    row = AuditLog.objects.get(action="test.row")
    assert (row.client_id, row.target_id, len(row.target_label), row.actor_id) == (client.pk, str(client.pk), 254, None)


def test_any_of_finds_the_same_rows_as_in(db):
    clients = [make_client(email=f"any{n}@example.com") for n in range(4)]
    for client in clients:
        Wallet.objects.create(client=client)
    wanted = [clients[0].pk, clients[2].pk, 10**9]
    assert sorted(Wallet.objects.filter(client_id__any_of=wanted).values_list("client_id", flat=True)) == sorted(
        Wallet.objects.filter(client_id__in=wanted).values_list("client_id", flat=True)) == [clients[0].pk, clients[2].pk]
    assert list(Wallet.objects.filter(client__any_of=[])) == []


def test_many_rows_updated_in_one_statement_keep_every_value_and_touch_nothing_else(db, django_assert_num_queries):
    client = make_client(email="rows@example.com")
    card = Card.objects.create(client=client, role="main", gateway="sandbox", token="tok_visa:x", brand="visa", last4="4242", exp_month=1, exp_year=2030)
    attempts = [PaymentAttempt.objects.create(client=client, card=card, kind="charge", amount_cents=100 + n, purpose="p", idempotency_key=f"rows:{n}")
                for n in range(3)]
    done = datetime.datetime(2027, 3, 1, 23, 0, tzinfo=datetime.UTC)
    attempts[0].status, attempts[0].failure_code, attempts[0].completed_at = "failed", "it's \"declined\" ünïcode", done
    attempts[1].status, attempts[1].gateway_reference, attempts[1].completed_at = "succeeded", "ch_1", None
    with django_assert_num_queries(1):
        update_rows(PaymentAttempt, attempts[:2], ["status", "failure_code", "gateway_reference", "completed_at"])
    rows = {a.idempotency_key: a for a in PaymentAttempt.objects.all()}
    assert (rows["rows:0"].status, rows["rows:0"].failure_code, rows["rows:0"].completed_at) == ("failed", "it's \"declined\" ünïcode", done)
    assert (rows["rows:1"].status, rows["rows:1"].gateway_reference, rows["rows:1"].completed_at) == ("succeeded", "ch_1", None)
    assert (rows["rows:2"].status, rows["rows:2"].amount_cents) == ("created", 102)  # not in the list: untouched
    update_rows(PaymentAttempt, [], ["status"])  # nothing to write: no statement


def test_ids_and_dates_go_as_one_array_text_and_anything_that_may_need_quoting_as_a_list():
    day, moment = datetime.date(2027, 3, 1), datetime.datetime(2027, 3, 1, 1, tzinfo=datetime.UTC)
    assert array_param([3, None, 12]) == "{3,NULL,12}" and array_param([day, None]) == "{2027-03-01,NULL}" and array_param([]) == "{}"
    assert array_param(["a,b", 'say "hi"', "c:\\d"]) == '{"a,b","say \\"hi\\"","c:\\\\d"}'
    for values in ([moment], [True, False], [1, "x"]):
        assert array_param(values) == values


def test_any_of_matches_text_with_commas_quotes_and_braces_exactly(db):
    keys = ["k,1", 'k"2', "k{3}", "k\\5", "k 4"]
    client = make_client(email="keys@example.com")
    card = Card.objects.create(client=client, role="main", gateway="sandbox", token="t", brand="visa", last4="4242", exp_month=1, exp_year=2030)
    for key in keys:
        PaymentAttempt.objects.create(client=client, card=card, kind="charge", amount_cents=1, purpose="p", idempotency_key=key)
    assert sorted(PaymentAttempt.objects.filter(idempotency_key__any_of=[*keys[:4], "k"]).values_list("idempotency_key", flat=True)) == sorted(keys[:4])


@settings(max_examples=300, deadline=None)
@given(st.dates(min_value=datetime.date(1990, 1, 1), max_value=datetime.date(2090, 12, 31)), st.integers(min_value=-240, max_value=240))
def test_per1_months_by_hand_are_relativedeltas_months(day, months):
    assert add_months(day, months) == day + relativedelta(months=months)
