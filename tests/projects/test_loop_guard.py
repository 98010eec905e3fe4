"""PRJ-6, the loop guard: a subscriber's 11th entry into the same block within any 60 minutes is
a loop; all of the funnel's blocks but the start block go (the audit log keeps them), and the
owner is blocked for `funnel_loop`: 1 day, then 7 days, then for good; with an email each time."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts import services as accounts
from accounts.models import Client
from compliance.models import AuditLog
from projects.models import Block, FunnelStep
from tests.projects.funnel_kit import block, make_funnel, post, press, text

pytestmark = pytest.mark.django_db
START = timezone.datetime(2026, 12, 2, 9, 0, tzinfo=timezone.UTC)


def looping(project):
    """A menu whose button leads back to its own block: each press is one more entry."""
    return make_funnel(
        project,
        block("start", text="Welcome", next="menu"),
        block("menu", text="Menu", buttons=[("Again", "menu"), ("Done", "end")]),
        block("end", text="Bye"),
    )


def press_again(client, project, capture, times: int):
    for _ in range(times):
        post(client, project, press("menu"), capture)


def test_prj6_the_guard_fires_exactly_at_the_11th_entry_within_60_minutes(client, bot_project, telegram, client_account, mailbox,
                                                                       django_capture_on_commit_callbacks):
    funnel = looping(bot_project)
    with time_machine.travel(START, tick=False):
        post(client, bot_project, text("/start"), django_capture_on_commit_callbacks)  # the 1st entry into "menu" (start → menu)
    with time_machine.travel(START + timedelta(minutes=30), tick=False):
        press_again(client, bot_project, django_capture_on_commit_callbacks, 9)  # the 10th
        client_account.refresh_from_db()
        assert client_account.status == Client.Status.ACTIVE and Block.objects.filter(funnel=funnel).count() == 3
    with time_machine.travel(START + timedelta(minutes=59), tick=False):
        press_again(client, bot_project, django_capture_on_commit_callbacks, 1)  # the 11th, within the hour
    client_account.refresh_from_db()
    assert (client_account.status, client_account.block_reason) == ("blocked", "funnel_loop")
    assert client_account.blocked_until == START + timedelta(minutes=59) + timedelta(days=1)
    assert list(Block.objects.filter(funnel=funnel).values_list("key", flat=True)) == ["start"]
    entry = AuditLog.objects.get(action="funnel.loop")
    assert entry.details["block"] == "menu" and [b["key"] for b in entry.details["funnel"]["blocks"]] == ["start", "menu", "end"]
    assert any("blocked" in m.subject.lower() for m in mailbox), [m.subject for m in mailbox]
    assert FunnelStep.objects.filter(block="menu").count() == 11


def test_prj6_the_11th_entry_after_the_window_is_no_loop(client, bot_project, telegram, client_account, django_capture_on_commit_callbacks):
    funnel = looping(bot_project)
    with time_machine.travel(START, tick=False):
        post(client, bot_project, text("/start"), django_capture_on_commit_callbacks)
    with time_machine.travel(START + timedelta(minutes=10), tick=False):
        press_again(client, bot_project, django_capture_on_commit_callbacks, 9)
    with time_machine.travel(START + timedelta(minutes=60), tick=False):  # the first entry is now 60 minutes old: out
        press_again(client, bot_project, django_capture_on_commit_callbacks, 1)
    client_account.refresh_from_db()
    assert client_account.status == Client.Status.ACTIVE and Block.objects.filter(funnel=funnel).count() == 3
    assert not AuditLog.objects.filter(action="funnel.loop").exists()


def test_prj6_a_subscriber_sending_start_over_and_over_cannot_make_a_loop(client, bot_project, telegram, client_account,
                                                                         django_capture_on_commit_callbacks):
    """A stranger could otherwise block any account by sending /start eleven times: a /start runs
    the funnel again only after six minutes, so ten at most fit in an hour."""
    looping(bot_project)
    for minute in range(0, 60, 3):  # twenty /start in an hour, every three minutes
        with time_machine.travel(START + timedelta(minutes=minute), tick=False):
            post(client, bot_project, text("/start"), django_capture_on_commit_callbacks)
    client_account.refresh_from_db()
    assert client_account.status == Client.Status.ACTIVE
    assert FunnelStep.objects.filter(block="start").count() == 10
    assert [m["text"] for m in telegram.sent()].count("Welcome") == 10


def test_prj6_a_loop_among_blocks_that_need_no_answer_is_stopped_in_one_run(client, bot_project, telegram, client_account,
                                                                         django_capture_on_commit_callbacks):
    make_funnel(bot_project, block("a", "action", action="add_tag", tag="x", next="b"), block("b", "goto", next="a"))
    post(client, bot_project, text("/start"), django_capture_on_commit_callbacks)
    client_account.refresh_from_db()
    assert client_account.block_reason == "funnel_loop" and telegram.sent() == []


def _loop_once(client, project, capture, at):
    with time_machine.travel(at, tick=False):
        funnel = looping(project)
        post(client, project, text(f"/start {funnel.pk}", user_id=at.day * 100 + at.month), capture)
        for _ in range(10):
            post(client, project, press("menu", user_id=at.day * 100 + at.month), capture)
    return funnel


def test_prj6_three_loops_escalate_from_one_day_to_seven_days_to_for_good(client, bot_project, telegram, client_account,
                                                                       django_capture_on_commit_callbacks):
    ends = []
    at = START
    for _ in range(3):
        _loop_once(client, bot_project, django_capture_on_commit_callbacks, at)
        client_account.refresh_from_db()
        assert client_account.block_reason == "funnel_loop"
        ends.append(client_account.blocked_until)
        if client_account.blocked_until is None:
            break
        at = client_account.blocked_until + timedelta(minutes=1)
        with time_machine.travel(at, tick=False):
            accounts.lift_expired_blocks()
        client_account.refresh_from_db()
        assert client_account.status == Client.Status.ACTIVE
    assert ends[0] - START == timedelta(days=1)
    assert ends[1] - (ends[0] + timedelta(minutes=1)) == timedelta(days=7)
    assert ends[2] is None  # for good
    assert AuditLog.objects.filter(action="funnel.loop", client=client_account).count() == 3


def test_prj6_two_subscribers_looping_in_the_same_funnel_cost_one_step_of_the_ladder(bot_project, client_account):
    from projects.funnels.loop_guard import stop_loop
    from tests.factories import make_subscriber

    funnel = looping(bot_project)
    one, two = make_subscriber(project=bot_project, email="a@example.com"), make_subscriber(project=bot_project, email="b@example.com")
    assert stop_loop(funnel=funnel, block="menu", subscriber_id=one.pk) is True
    assert stop_loop(funnel=funnel, block="menu", subscriber_id=two.pk) is False
    client_account.refresh_from_db()
    assert client_account.blocked_until is not None  # one day, not seven
    assert AuditLog.objects.filter(action="funnel.loop").count() == 1
