"""The audit log sealed day by day (CMP-5, issue 7 item 10): `verify_audit_log` reports nothing
on an untouched log and names the day after a row is edited, deleted or added late by raw SQL."""

import datetime

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from compliance.models import AuditLog, AuditSeal
from compliance.sealing import seal_audit_log, verify_audit_log
from compliance.services import record

pytestmark = pytest.mark.django_db
UTC = datetime.UTC


@pytest.fixture
def three_days(db):
    for day in (1, 2, 3):
        with time_machine.travel(datetime.datetime(2027, 1, day, 12, tzinfo=UTC), tick=False):
            record(action="test.event", details={"n": day})
            record(action="test.other", details={"n": day * 10})
    assert seal_audit_log(through=datetime.date(2027, 1, 3)) == 3


def verify_output() -> tuple[int, str]:
    from io import StringIO

    out = StringIO()
    try:
        call_command("verify_audit_log", stdout=out)
        return 0, out.getvalue()
    except SystemExit as exit_:
        return exit_.code, out.getvalue()


def test_cmp5_an_untouched_log_verifies(three_days):
    assert verify_audit_log() == []
    code, out = verify_output()
    assert code == 0 and "matches" in out
    assert list(AuditSeal.objects.order_by("day").values_list("entries", flat=True)) == [2, 2, 2]
    first, second = AuditSeal.objects.order_by("day")[:2]
    assert second.previous_digest == first.digest


def test_cmp5_a_row_edited_with_raw_sql_names_its_day(three_days):
    row = AuditLog.objects.get(details__n=20)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {AuditLog._meta.db_table} SET action = 'covered.up' WHERE id = %s", [row.pk])
    code, out = verify_output()
    assert code == 1 and "2027-01-02: entries changed" in out and "2027-01-01" not in out and "2027-01-03" not in out


def test_cmp5_a_row_deleted_with_raw_sql_names_its_day(three_days):
    row = AuditLog.objects.get(details__n=3)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {AuditLog._meta.db_table} WHERE id = %s", [row.pk])
    assert [str(day) for day in verify_audit_log()] == ["2027-01-03: 1 entries removed (sealed with 2, 1 now)"]


def test_cmp5_a_row_added_late_names_its_day(three_days):
    with time_machine.travel(datetime.datetime(2027, 1, 1, 18, tzinfo=UTC), tick=False):
        record(action="test.backdated")
    assert [day.day for day in verify_audit_log()] == [datetime.date(2027, 1, 1)]
    assert "added late" in str(verify_audit_log()[0])


def test_cmp5_sealing_twice_seals_nothing_more_and_the_night_seals_yesterday(three_days):
    assert seal_audit_log(through=datetime.date(2027, 1, 3)) == 0
    from billing.night import run_nightly
    from core.clock import night_of

    with time_machine.travel(night_of(datetime.date(2027, 1, 6)), tick=False):
        run_nightly(at=night_of(datetime.date(2027, 1, 6)))
    assert AuditSeal.objects.order_by("-day").first().day == datetime.date(2027, 1, 4)  # 01:00 UTC+2 on the 6th is the 5th in UTC
    assert verify_audit_log() == []
