"""The staff console for funnels and sending (PRJ-6, MSG-1): read-only lists that stay at a
constant number of queries, the restore of a funnel the loop guard stopped and the cancel of a
broadcast, each behind a confirmation page and audited (CMP-5), and a bot token never shown."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance.models import AuditLog
from core.crypto import encrypt
from projects.funnels.loop_guard import stop_loop
from projects.funnels.services import create_funnel
from projects.funnels.spec import BlockSpec, FunnelSpec
from projects.models import Block, Broadcast, Funnel, FunnelStep, OutboundMessage, ProjectBot, Subscriber
from tests.factories import make_client, make_project, make_subscriber, on_pro

pytestmark = pytest.mark.django_db

FUNNELS = "/admin/projects/funnel/"
BROADCASTS = "/admin/projects/broadcast/"
BOTS = "/admin/projects/projectbot/"
MESSAGES = "/admin/projects/outboundmessage/"
STEPS = "/admin/projects/funnelstep/"
TOKEN = "777001:AAH-admin-test-token-do-not-show"


@pytest.fixture
def staff_browser(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def owner(client_account):
    return on_pro(client_account)  # more than Free's two projects (TAR-2)


@pytest.fixture
def project(owner):
    return make_project(owner=owner)


def three_blocks(name: str = "Welcome") -> FunnelSpec:
    return FunnelSpec(name=name, start="hello", blocks=(
        BlockSpec(key="hello", kind="message", text="Hello!", next="wait"),
        BlockSpec(key="wait", kind="delay", delay_seconds=60, next="bye"),
        BlockSpec(key="bye", kind="message", text="Bye!"),
    ))


def funnel_of(project, name: str = "Welcome") -> Funnel:
    return create_funnel(project=project, actor=project.owner, spec=three_blocks(name))


def bot_of(project) -> ProjectBot:
    return ProjectBot.objects.create(project=project, token_encrypted=encrypt(TOKEN), bot_id=777001, username=f"shop{project.pk}_bot",
                                     name="ShopBot", connected_by=project.owner)


def broadcast_of(project, status: str = Broadcast.Status.SENDING, outcomes: tuple[str, ...] = ()) -> Broadcast:
    broadcast = Broadcast.objects.create(project=project, text="News!", status=status, recipients=len(outcomes))
    for n, outcome in enumerate(outcomes):
        subscriber = make_subscriber(project=project, email=f"b{broadcast.pk}-{n}@example.com")
        OutboundMessage.objects.create(project=project, subscriber=subscriber, broadcast=broadcast, text="News!", status=outcome,
                                       error="Forbidden: bot was blocked by the user" if outcome == "blocked" else "")
    return broadcast


def queries_for(browser, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = browser.get(url)
    assert response.status_code == 200
    return len(queries)


def rows_in(browser, url: str) -> int:
    return len(browser.get(url).context["cl"].result_list)


def make_rows(project, kind: str, n: int) -> None:
    """`n` rows of one changelist, as the services and the runtime leave them."""
    subscriber = Subscriber.objects.filter(project=project, email="rows@example.com").first() or make_subscriber(project=project, email="rows@example.com")
    for i in range(n):
        if kind == "funnel":
            funnel_of(project, name=f"Funnel {i}")
        elif kind == "bot":
            bot_of(project if not ProjectBot.objects.filter(project=project).exists() else make_project(owner=project.owner, name=f"Shop {i}"))
        elif kind == "broadcast":
            broadcast_of(project, outcomes=("sent", "failed") if i % 2 else ("blocked",))
        elif kind == "message":
            OutboundMessage.objects.create(project=project, subscriber=subscriber, broadcast=broadcast_of(project), text="Hi", status="sent")
        elif kind == "step":
            funnel = Funnel.objects.filter(project=project).first() or funnel_of(project)
            FunnelStep.objects.create(subscriber=subscriber, funnel=funnel, block="hello", via="next")


@pytest.mark.parametrize(("kind", "url"), [("funnel", FUNNELS), ("bot", BOTS), ("broadcast", BROADCASTS), ("message", MESSAGES), ("step", STEPS)])
def test_prj6_msg1_each_list_answers_in_the_same_number_of_queries_for_1_and_20_rows(staff_browser, project, kind, url):
    """PRJ-6, MSG-1: the funnel, bot, broadcast, message and step lists load no row one by one."""
    make_rows(project, kind, 1)
    assert rows_in(staff_browser, url) == 1
    one = queries_for(staff_browser, url)
    make_rows(project, kind, 19)
    assert rows_in(staff_browser, url) == 20
    assert queries_for(staff_browser, url) == one


def test_msg1_the_broadcast_list_shows_what_happened_to_the_messages(staff_browser, project):
    """MSG-1: sent, failed (a skipped one counts as failed, as in `counts_of`) and bot blocked."""
    broadcast = broadcast_of(project, outcomes=("sent", "sent", "sent", "failed", "skipped", "blocked", "queued"))
    row = staff_browser.get(BROADCASTS).context["cl"].result_list[0]
    assert (row.pk, row.sent_total, row.failed_total, row.blocked_total) == (broadcast.pk, 3, 2, 1)
    page = staff_browser.get(BROADCASTS).content.decode()
    cells = {name: re.search(rf'<td[^>]*class="[^"]*field-{name}\b[^"]*"[^>]*>(.*?)</td>', page, re.S) for name in ("sent", "failed", "blocked")}
    assert {name: re.sub(r"<[^>]+>", "", cell.group(1)).strip() for name, cell in cells.items()} == {"sent": "3", "failed": "2", "blocked": "1"}


def test_prj6_cmp5_staff_restore_the_blocks_the_loop_guard_deleted_after_confirming(staff_browser, staff, project):
    """PRJ-6, CMP-5: the loop guard keeps the funnel in the audit log; staff restore it from
    there, through `replace_funnel`, after a confirmation page, and the restore is audited."""
    funnel = funnel_of(project)
    subscriber = make_subscriber(project=project, email="looper@example.com")
    assert stop_loop(funnel=funnel, block="wait", subscriber_id=subscriber.pk)
    assert list(Block.objects.filter(funnel=funnel).values_list("key", flat=True)) == ["hello"]

    page = staff_browser.post(FUNNELS, {"action": "restore_blocks", "_selected_action": [funnel.pk]})
    assert page.status_code == 200
    assert "“Welcome” (project Shop bot): 2 blocks come back." in page.content.decode()
    assert list(Block.objects.filter(funnel=funnel).values_list("key", flat=True)) == ["hello"]  # nothing happens before confirming
    assert not AuditLog.objects.filter(action="funnel.restored").exists()

    done = staff_browser.post(FUNNELS, {"action": "restore_blocks", "_selected_action": [funnel.pk], "post": "yes"}, follow=True)
    assert "Restored 2 blocks of “Welcome”." in done.content.decode()
    assert list(Block.objects.filter(funnel=funnel).values_list("key", flat=True)) == ["hello", "wait", "bye"]
    assert AuditLog.objects.filter(action="funnel.restored", actor=staff, target_type="projects.funnel", target_id=str(funnel.pk)).exists()

    again = staff_browser.post(FUNNELS, {"action": "restore_blocks", "_selected_action": [funnel.pk]}, follow=True)
    assert "has been edited or restored since the loop guard stopped it" in again.content.decode()
    assert AuditLog.objects.filter(action="funnel.restored").count() == 1


def test_prj6_a_funnel_the_loop_guard_never_stopped_is_refused(staff_browser, project):
    """PRJ-6: with no `funnel.loop` entry there is nothing to restore: a sentence, no change."""
    funnel = funnel_of(project)
    response = staff_browser.post(FUNNELS, {"action": "restore_blocks", "_selected_action": [funnel.pk], "post": "yes"}, follow=True)
    assert "the loop guard never stopped this funnel, there is nothing to restore" in response.content.decode()
    assert not AuditLog.objects.filter(action="funnel.restored").exists()


def test_prj6_staff_without_the_change_permission_cannot_restore(client, project):
    """PRJ-6: the action is gated on `projects.change_funnel`."""
    from django.contrib.auth.models import Permission

    viewer = make_client(email="viewer@example.com")
    viewer.is_staff = True
    viewer.save()
    viewer.user_permissions.add(Permission.objects.get(codename="view_funnel"))
    client.force_login(viewer)
    page = client.get(FUNNELS)
    assert page.status_code == 200 and b"restore_blocks" not in page.content


def test_msg1_the_bot_token_never_appears_in_the_admin(staff_browser, project):
    """MSG-1: the bot's token, plain or encrypted, is on no admin page."""
    bot = bot_of(project)
    for url in (BOTS, f"{BOTS}{bot.pk}/change/"):
        page = staff_browser.get(url)
        assert page.status_code == 200
        html = page.content.decode()
        assert f"@{bot.username}" in html or bot.username in html
        assert TOKEN not in html and bot.token_encrypted not in html and "token_encrypted" not in html


def test_msg1_cmp5_staff_cancel_a_running_broadcast_after_confirming(staff_browser, staff, project):
    """MSG-1, CMP-5: cancelling asks first; then what is not sent is not sent, and it is audited."""
    running = broadcast_of(project, outcomes=("sent", "queued", "queued"))
    finished = broadcast_of(project, status=Broadcast.Status.DONE, outcomes=("sent",))

    page = staff_browser.post(BROADCASTS, {"action": "cancel", "_selected_action": [running.pk, finished.pk]})
    assert page.status_code == 200 and "nothing to cancel" in page.content.decode()
    running.refresh_from_db()
    assert running.status == Broadcast.Status.SENDING

    done = staff_browser.post(BROADCASTS, {"action": "cancel", "_selected_action": [running.pk, finished.pk], "post": "yes"}, follow=True)
    assert "Cancelled 1 broadcast: what was not sent yet will not be sent." in done.content.decode()
    running.refresh_from_db()
    finished.refresh_from_db()
    assert running.status == Broadcast.Status.CANCELLED and running.cancelled_by == staff
    assert finished.status == Broadcast.Status.DONE
    assert sorted(OutboundMessage.objects.filter(broadcast=running).values_list("status", flat=True)) == ["cancelled", "cancelled", "sent"]
    assert AuditLog.objects.filter(action="broadcast.cancelled", actor=staff, target_id=str(running.pk)).exists()


def test_msg1_messages_and_steps_are_view_only(staff_browser, project):
    """MSG-1, PRJ-6: nobody adds, changes or deletes a message or a step in the admin."""
    make_rows(project, "message", 1)
    make_rows(project, "step", 1)
    message, step = OutboundMessage.objects.get(), FunnelStep.objects.get()
    assert staff_browser.get(f"{MESSAGES}add/").status_code == 403
    assert staff_browser.get(f"{STEPS}add/").status_code == 403
    assert staff_browser.post(f"{MESSAGES}{message.pk}/delete/", {"post": "yes"}).status_code == 403
    assert staff_browser.get(f"{MESSAGES}{message.pk}/change/").status_code == 200
    assert staff_browser.get(f"{STEPS}{step.pk}/change/").status_code == 200
    assert staff_browser.get(MESSAGES, {"q": "not-a-number"}).status_code == 200
    assert staff_browser.get(MESSAGES, {"q": str(project.pk)}).context["cl"].result_list[0].pk == message.pk

