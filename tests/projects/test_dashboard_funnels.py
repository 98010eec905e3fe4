"""The dashboard's funnel editor, broadcasts and bot pages (PRJ-6, MSG-1, PRJ-1): the owner builds a
funnel block by block and it is stored whole; an invalid one shows the rule's reason with what was
typed kept and stores nothing; a participant at `view` reads and is refused a change; another
client finds none of the pages; a broadcast is sent, shown with its progress (polled while it
runs) and cancelled; a bad bot token is refused; every list answers in the same number of queries
with 1 row and with 30."""

import html
import itertools
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.crypto import encrypt
from projects.channels import BotIdentity, ChannelRefused, Delivery, Outcome
from projects.funnels import services as funnels
from projects.funnels.spec import BlockSpec, ButtonSpec, FunnelSpec
from projects.models import Block, Broadcast, Funnel, OutboundMessage, ProjectBot, Subscriber
from tests.factories import add_member, make_project
from tests.snapshot import changed_tables, database_state

pytestmark = pytest.mark.django_db

FIELDS = ("key", "kind", "text", "buttons", "next", "else_next", "delay_seconds", "action", "field", "value", "tag")
GOOD_TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345678"
_chats = itertools.count(7_000_001)


class FakeChannel:
    """The channel port without Telegram: every send is sent; getMe knows one token."""

    name = "fake"
    sent: list = []

    def get_me(self, *, token):
        if token != GOOD_TOKEN:
            raise ChannelRefused(401, "Unauthorized")
        return BotIdentity(id=1, username="shopbot", name="Shop Bot")

    def set_webhook(self, *, token, url, secret):
        return None

    def send(self, *, token, message):
        FakeChannel.sent.append(message)
        return Delivery(outcome=Outcome.SENT, message_id=str(len(FakeChannel.sent)))

    def answer_callback(self, *, token, callback_id, text=""):
        return Delivery(outcome=Outcome.SENT)

    def clear_buttons(self, *, token, chat_id, message_id):
        return Delivery(outcome=Outcome.SENT)


@pytest.fixture(autouse=True)
def fake_channel(settings):
    settings.MESSAGING_CHANNEL = f"{__name__}.FakeChannel"
    FakeChannel.sent = []
    return FakeChannel


def text(response) -> str:
    return re.sub(r"\s+", " ", html.unescape(response.content.decode()))


@pytest.fixture
def owner_browser(client, client_account):
    client.force_login(client_account)
    return client


@pytest.fixture
def project(client_account):
    return make_project(owner=client_account)


def editor(name: str, start: str, *blocks: dict, extra: int = 1) -> dict:
    """The editor's POST: the funnel's fields, then one row per block (and `extra` empty rows)."""
    data = {"name": name, "start": start, "blocks-TOTAL_FORMS": str(len(blocks) + extra), "blocks-INITIAL_FORMS": "0",
            "blocks-MIN_NUM_FORMS": "0", "blocks-MAX_NUM_FORMS": "100"}
    for n, block in enumerate([*blocks, *({} for _ in range(extra))]):
        for field in FIELDS:
            data[f"blocks-{n}-{field}"] = block.get(field, "message" if field == "kind" else "")
    return data


WELCOME = editor(
    "Welcome", "hello",
    {"key": "hello", "text": "Hi! Want our offer?", "buttons": "Yes, please -> tag_it\r\nNo thanks -> bye"},
    {"key": "tag_it", "kind": "action", "action": "add_tag", "tag": "interested", "next": "offer"},
    {"key": "offer", "text": "Here it is:\r\n10% off.", "next": ""},
    {"key": "bye", "kind": "goto", "next": "hello"},
)


def stored_funnel(project, name="Stored") -> Funnel:
    spec = FunnelSpec(name=name, start="a", blocks=(
        BlockSpec(key="a", kind="message", text="First", buttons=(ButtonSpec("On", "b"),)),
        BlockSpec(key="b", kind="message", text="Second"),
    ))
    return funnels.create_funnel(project=project, actor=project.owner, spec=spec)


# --- funnels (PRJ-6) -------------------------------------------------------------------------------


def test_prj6_the_owner_creates_a_funnel_in_the_editor_and_it_is_stored_with_its_blocks(owner_browser, project):
    """PRJ-6: the editor's rows become the funnel's blocks, in order, with one start block."""
    page = text(owner_browser.get(f"/projects/{project.pk}/funnels/new/"))
    assert "New funnel" in page and 'name="blocks-0-key"' in page and 'value="start"' in page
    answer = owner_browser.post(f"/projects/{project.pk}/funnels/new/", WELCOME, follow=True)
    funnel = Funnel.objects.get(project=project)
    assert answer.redirect_chain[-1][0] == f"/projects/{project.pk}/funnels/{funnel.pk}/"
    assert funnel.name == "Welcome" and funnel.start == "hello"
    blocks = list(funnel.blocks.all())
    assert [(b.key, b.kind) for b in blocks] == [("hello", "message"), ("tag_it", "action"), ("offer", "message"), ("bye", "goto")]
    assert blocks[0].buttons == [{"text": "Yes, please", "next": "tag_it"}, {"text": "No thanks", "next": "bye"}]
    assert blocks[1].action == "add_tag" and blocks[1].tag == "interested" and blocks[1].next == "offer"
    assert blocks[2].text == "Here it is:\n10% off."  # the browser's CRLF as the messenger's LF
    page = text(answer)
    assert "The funnel “Welcome” is saved." in page
    assert "Yes, please -> tag_it" in page  # the editor shows the buttons back as it took them
    assert 'href="#block-tag_it"' in page and "adds the tag “interested”" in page  # the map of arrows
    listing = text(owner_browser.get(f"/projects/{project.pk}/funnels/"))
    assert "Welcome" in listing and "<code>hello</code>" in listing and f"/start {funnel.pk}" in listing


def test_prj6_add_a_block_shows_one_more_row_keeps_what_was_typed_and_stores_nothing(owner_browser, project):
    """PRJ-6: the "add a block" control is no save: nothing is checked or stored."""
    before = database_state()
    data = {**editor("Half done", "hello", {"key": "hello", "text": "Typed so far"}), "add_block": "1"}
    page = text(owner_browser.post(f"/projects/{project.pk}/funnels/new/", data, headers={"hx-request": "true"}))
    assert 'name="blocks-TOTAL_FORMS" value="3"' in page and 'name="blocks-2-key"' in page
    assert 'value="Half done"' in page and "Typed so far" in page and "Not saved" not in page
    assert changed_tables(before, database_state()) == []


@pytest.mark.parametrize(("data", "reason"), [
    (editor("Broken", "hello", {"key": "hello", "text": "Hi", "buttons": "Go -> nowhere"}),
     "Block “hello” leads to “nowhere”, which is not a block of this funnel."),
    (editor("Broken", "missing", {"key": "hello", "text": "Hi"}),  # a funnel has exactly one start block
     "The start block “missing” is not a block of this funnel."),
    (editor("Broken", "hello", {"key": "hello", "text": "Hi"}, {"key": "hello", "text": "Again"}),
     "Two blocks have the key “hello”."),
])
def test_prj6_an_invalid_funnel_shows_the_reason_keeps_what_was_typed_and_stores_nothing(owner_browser, project, data, reason):
    """PRJ-6: a funnel is refused whole, with the rule's sentence."""
    before = database_state()
    answer = owner_browser.post(f"/projects/{project.pk}/funnels/new/", data)
    page = text(answer)
    assert answer.status_code == 200 and reason in page and 'role="alert"' in page
    assert 'value="Broken"' in page and " Hi</textarea>" in page
    assert changed_tables(before, database_state()) == []


def test_prj6_a_refused_edit_leaves_the_stored_funnel_unchanged_and_a_valid_one_replaces_it(owner_browser, project):
    """PRJ-6: replacing a funnel is all or nothing."""
    funnel = stored_funnel(project)
    page = text(owner_browser.get(f"/projects/{project.pk}/funnels/{funnel.pk}/"))
    assert 'value="Stored"' in page and "On -> b" in page and "Delete…" in page
    before = database_state()
    bad = editor("Renamed", "a", {"key": "a", "text": "First, changed", "buttons": "On -> gone"})
    page = text(owner_browser.post(f"/projects/{project.pk}/funnels/{funnel.pk}/", bad))
    assert "leads to “gone”, which is not a block of this funnel." in page and 'value="Renamed"' in page
    assert changed_tables(before, database_state()) == []
    owner_browser.post(f"/projects/{project.pk}/funnels/{funnel.pk}/", editor("Renamed", "a", {"key": "a", "text": "Only one"}))
    funnel.refresh_from_db()
    assert funnel.name == "Renamed" and [(b.key, b.text) for b in funnel.blocks.all()] == [("a", "Only one")]


def test_prj6_a_row_ticked_remove_or_left_empty_is_no_block_and_a_row_without_a_key_is_an_error(owner_browser, project):
    """PRJ-6: the editor's rows, read as the client means them."""
    data = editor("Rows", "a", {"key": "a", "text": "Kept"}, {"key": "b", "text": "Removed"}, {"text": "No key here"})
    data["blocks-1-DELETE"] = "on"
    page = text(owner_browser.post(f"/projects/{project.pk}/funnels/new/", data))
    assert "Give this block a key" in page and not Funnel.objects.exists()
    data["blocks-2-text"] = ""
    owner_browser.post(f"/projects/{project.pk}/funnels/new/", data)
    assert [b.key for b in Block.objects.filter(funnel__project=project)] == ["a"]
    bad_line = editor("Rows", "a", {"key": "a", "text": "Hi", "buttons": "no arrow here"})
    assert "Line 1: write a button as" in text(owner_browser.post(f"/projects/{project.pk}/funnels/new/", bad_line))


def test_prj6_delete_says_what_goes_and_deletes_on_confirmation(owner_browser, project):
    """PRJ-6: deleting a funnel takes its blocks; a page says so first."""
    funnel = stored_funnel(project)
    page = text(owner_browser.get(f"/projects/{project.pk}/funnels/{funnel.pk}/delete/"))
    assert "Delete the funnel “Stored”?" in page and "Its 2 blocks go with it" in page
    assert Funnel.objects.filter(pk=funnel.pk).exists()
    answer = owner_browser.post(f"/projects/{project.pk}/funnels/{funnel.pk}/delete/", follow=True)
    assert answer.redirect_chain[-1][0] == f"/projects/{project.pk}/funnels/"
    assert "The funnel “Stored” is deleted." in text(answer)
    assert not Funnel.objects.filter(pk=funnel.pk).exists() and not Block.objects.filter(funnel_id=funnel.pk).exists()


def test_prj1_a_participant_with_funnels_view_reads_them_and_is_refused_every_change(client, client_account, other_account):
    """PRJ-1: `view` reads, only `full` changes; the refusal names the section."""
    project = make_project(owner=other_account)
    funnel = stored_funnel(project)
    add_member(project=project, client=client_account, funnels="view")
    client.force_login(client_account)
    listing = text(client.get(f"/projects/{project.pk}/funnels/"))
    assert "Stored" in listing and "New funnel" not in listing
    page = text(client.get(f"/projects/{project.pk}/funnels/{funnel.pk}/"))
    assert "View only." in page and "First" in page and 'href="#block-b"' in page
    assert "Save the funnel" not in page and "<textarea" not in page and "Delete…" not in page
    needs_full = "This needs full access to funnels in this project."
    assert needs_full in text(client.get(f"/projects/{project.pk}/funnels/new/", follow=True))
    before = database_state()
    for path, data in ((f"/projects/{project.pk}/funnels/new/", WELCOME), (f"/projects/{project.pk}/funnels/{funnel.pk}/", WELCOME),
                       (f"/projects/{project.pk}/funnels/{funnel.pk}/delete/", {})):
        assert needs_full in text(client.post(path, data, follow=True)), path
    assert changed_tables(before, database_state()) == []


def test_prj1_another_clients_project_has_none_of_these_pages(owner_browser, other_account):
    """PRJ-1: a client sees nothing of a project it has no access to: 404 for each page and post."""
    project = make_project(owner=other_account)
    funnel = stored_funnel(project)
    broadcast = Broadcast.objects.create(project=project, text="Theirs", send_at=timezone.now() + timedelta(days=1))
    base = f"/projects/{project.pk}"
    before = database_state()
    pages = [f"{base}/funnels/", f"{base}/funnels/new/", f"{base}/funnels/{funnel.pk}/", f"{base}/funnels/{funnel.pk}/delete/",
             f"{base}/broadcasts/", f"{base}/bot/"]
    for path in pages:
        assert owner_browser.get(path).status_code == 404, path
    for path in [*pages, f"{base}/broadcasts/{broadcast.pk}/cancel/"]:
        assert owner_browser.post(path, {**WELCOME, "text": "Planted", "token": GOOD_TOKEN}).status_code == 404, path
    assert changed_tables(before, database_state()) == []


def test_prj1_the_project_page_links_the_sections_the_caller_holds(owner_browser, client, project, other_account):
    """PRJ-1: the project page's links follow the caller's sections."""
    page = owner_browser.get(f"/projects/{project.pk}/").content.decode()
    for path in ("funnels/", "broadcasts/", "bot/"):
        assert f'href="/projects/{project.pk}/{path}"' in page
    add_member(project=project, client=other_account, funnels="view", subscribers="view")
    client.force_login(other_account)
    page = client.get(f"/projects/{project.pk}/").content.decode()
    assert f'href="/projects/{project.pk}/funnels/"' in page
    assert f'href="/projects/{project.pk}/broadcasts/"' not in page and f'href="/projects/{project.pk}/bot/"' not in page
    assert client.get(f"/projects/{project.pk}/broadcasts/").status_code == 302  # refused: back to the projects


# --- broadcasts (MSG-1) ----------------------------------------------------------------------------


def with_bot(project) -> ProjectBot:
    return ProjectBot.objects.create(project=project, token_encrypted=encrypt("123:abc"), bot_id=1, username="shopbot")


def telegram_subscriber(project, *, name="Tele") -> Subscriber:
    now = timezone.now()
    return Subscriber.objects.create(project=project, messenger="telegram", messenger_user_id=str(next(_chats)), name=name, source="telegram",
                                     consent_at=now, consent_source="Telegram /start", subscribed_at=now)


def test_msg1_the_broadcast_form_creates_a_broadcast_for_the_active_subscribers(owner_browser, project):
    """MSG-1: a broadcast goes to the project's active subscribers; the page polls while it runs."""
    with_bot(project)
    for n in range(3):
        telegram_subscriber(project, name=f"T{n}")
    gone = telegram_subscriber(project, name="Gone")
    Subscriber.objects.filter(pk=gone.pk).update(status=Subscriber.Status.UNSUBSCRIBED, unsubscribed_at=timezone.now())
    answer = owner_browser.post(f"/projects/{project.pk}/broadcasts/", {"text": "Sale\r\ntoday", "tag": "", "send_at": ""}, follow=True)
    broadcast = Broadcast.objects.get(project=project)
    assert broadcast.text == "Sale\ntoday" and broadcast.recipients == 3 and broadcast.is_running
    page = text(answer)
    assert "The broadcast is on its way to 3 subscribers." in page and 'hx-trigger="every 2s"' in page


def test_msg1_the_page_counts_what_became_of_each_message_and_polls_only_while_one_runs(owner_browser, project):
    """MSG-1: every message is stored with its outcome; the progress is sent, failed and blocked of the recipients."""
    with_bot(project)
    broadcast = Broadcast.objects.create(project=project, text="Counted", status=Broadcast.Status.SENDING, recipients=4,
                                         started_at=timezone.now())
    for status in ("sent", "failed", "blocked", "queued"):
        OutboundMessage.objects.create(project=project, subscriber=telegram_subscriber(project), broadcast=broadcast, text="Counted",
                                       status=status)
    page = text(owner_browser.get(f"/projects/{project.pk}/broadcasts/"))
    assert "3 of 4 recipients: 1 sent, 1 failed, 1 blocked the bot, 1 waiting." in page
    assert 'aria-valuenow="3"' in page and "width:75%" in page and 'hx-trigger="every 2s"' in page
    Broadcast.objects.filter(pk=broadcast.pk).update(status=Broadcast.Status.DONE)
    rows = owner_browser.get(f"/projects/{project.pk}/broadcasts/", headers={"hx-request": "true", "hx-target": "broadcast-rows"})
    assert "Done" in text(rows) and 'hx-trigger="every 2s"' not in text(rows)  # the poll's answer stops the polling


def test_msg1_a_sent_broadcast_reaches_each_active_subscriber_once(owner_browser, project, django_capture_on_commit_callbacks):
    """MSG-1: sent now through the inline Celery: each active subscriber gets it once, and the page counts them."""
    with_bot(project)
    for n in range(3):
        telegram_subscriber(project, name=f"T{n}")
    with django_capture_on_commit_callbacks(execute=True):
        owner_browser.post(f"/projects/{project.pk}/broadcasts/", {"text": "Sale today", "tag": "", "send_at": ""})
    broadcast = Broadcast.objects.get(project=project)
    assert broadcast.status == Broadcast.Status.DONE
    assert OutboundMessage.objects.filter(broadcast=broadcast, status="sent").count() == 3
    assert [m.text for m in FakeChannel.sent] == ["Sale today"] * 3
    assert "3 of 3 recipients: 3 sent, 0 failed, 0 blocked the bot." in text(owner_browser.get(f"/projects/{project.pk}/broadcasts/"))


def test_msg1_a_scheduled_broadcast_is_polled_while_it_runs_and_can_be_cancelled(owner_browser, project):
    """MSG-1: a broadcast can be cancelled while it runs; the page stops polling when none does."""
    with_bot(project)
    telegram_subscriber(project)
    later = (timezone.now() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    answer = owner_browser.post(f"/projects/{project.pk}/broadcasts/", {"text": "Tomorrow's news", "tag": "vip", "send_at": later}, follow=True)
    broadcast = Broadcast.objects.get(project=project)
    assert broadcast.status == Broadcast.Status.SCHEDULED and broadcast.tag == "vip" and broadcast.send_at > timezone.now()
    page = text(answer)
    assert "The broadcast is scheduled for" in page and "tag: vip" in page
    assert 'hx-trigger="every 2s"' in page and "Cancel this broadcast?" in page
    rows = owner_browser.get(f"/projects/{project.pk}/broadcasts/", headers={"hx-request": "true", "hx-target": "broadcast-rows"})
    assert rows.content.decode().lstrip().startswith('<div id="broadcast-rows"') and "<html" not in rows.content.decode()
    assert "HX-Request" in rows["Vary"]
    answer = owner_browser.post(f"/projects/{project.pk}/broadcasts/{broadcast.pk}/cancel/", follow=True)
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.CANCELLED
    page = text(answer)
    assert "The broadcast is cancelled" in page and 'hx-trigger="every 2s"' not in page
    again = text(owner_browser.post(f"/projects/{project.pk}/broadcasts/{broadcast.pk}/cancel/", follow=True))
    assert "This broadcast has finished: there is nothing left to cancel." in again


def test_msg1_a_broadcast_without_a_bot_is_refused_with_the_reason_and_the_text_kept(owner_browser, project):
    """MSG-1: messages go out only through the project's bot."""
    before = database_state()
    page = text(owner_browser.post(f"/projects/{project.pk}/broadcasts/", {"text": "Hello all", "tag": "", "send_at": ""}))
    assert "Connect the project's Telegram bot first." in page and " Hello all</textarea>" in page
    assert changed_tables(before, database_state()) == []


def test_prj1_a_participant_with_messages_view_sees_broadcasts_and_cannot_send_or_cancel(client, client_account, other_account):
    """PRJ-1, MSG-1: `view` on messages reads the broadcasts only."""
    project = make_project(owner=other_account)
    with_bot(project)
    broadcast = Broadcast.objects.create(project=project, text="Owner's news", send_at=timezone.now() + timedelta(days=1))
    add_member(project=project, client=client_account, messages="view")
    client.force_login(client_account)
    page = text(client.get(f"/projects/{project.pk}/broadcasts/"))
    assert "Owner's news" in page and "Send a message" not in page and ">Cancel</button>" not in page
    before = database_state()
    needs_full = "This needs full access to messages in this project."
    assert needs_full in text(client.post(f"/projects/{project.pk}/broadcasts/", {"text": "Mine"}, follow=True))
    assert needs_full in text(client.post(f"/projects/{project.pk}/broadcasts/{broadcast.pk}/cancel/", follow=True))
    assert changed_tables(before, database_state()) == []


# --- the bot (MSG-1) -------------------------------------------------------------------------------


@pytest.mark.parametrize(("token", "reason"), [
    ("not a token", "That is not a Telegram bot token"),
    ("999999:ZZZdefGHIjklMNOpqrSTUvwxYZ012345678", "Telegram refused this bot token."),
])
def test_msg1_a_bad_bot_token_is_refused_and_never_shown_back(owner_browser, project, token, reason):
    """MSG-1: messages go out through the messenger's own API: a token it refuses is not stored."""
    before = database_state()
    page = text(owner_browser.post(f"/projects/{project.pk}/bot/", {"token": token}))
    assert reason in page and token not in page and 'type="password"' in page and 'autocomplete="off"' in page
    assert changed_tables(before, database_state()) == []


def test_msg1_a_good_token_connects_the_bot_and_view_level_sees_only_its_name(owner_browser, client, project, other_account):
    """MSG-1, PRJ-1: the bot's name is shown, its token never."""
    answer = owner_browser.post(f"/projects/{project.pk}/bot/", {"token": GOOD_TOKEN}, follow=True)
    assert "Connected to @shopbot." in text(answer) and GOOD_TOKEN not in answer.content.decode()
    assert ProjectBot.objects.get(project=project).username == "shopbot"
    add_member(project=project, client=other_account, settings="view")
    client.force_login(other_account)
    page = text(client.get(f"/projects/{project.pk}/bot/"))
    assert "@shopbot" in page and "Shop Bot" in page and "<form" not in page.split("<main>")[1].split("</main>")[0] and "Since" not in page
    assert "This needs full access to settings" in text(client.post(f"/projects/{project.pk}/bot/", {"token": GOOD_TOKEN}, follow=True))


# --- queries ---------------------------------------------------------------------------------------


def _more_funnels(project, count):
    for n in range(count):
        stored_funnel(project, name=f"Funnel {n}")


def _more_broadcasts(project, count):
    subscriber = telegram_subscriber(project)
    for n in range(count):
        broadcast = Broadcast.objects.create(project=project, text=f"News {n}", status=Broadcast.Status.SENDING, recipients=1)
        OutboundMessage.objects.create(project=project, subscriber=subscriber, broadcast=broadcast, text=broadcast.text, status="sent")


@pytest.mark.parametrize(("path", "add"), [
    ("funnels/", _more_funnels),
    ("broadcasts/", _more_broadcasts),
])
def test_list_pages_answer_in_the_same_number_of_queries_with_1_and_30_rows(owner_browser, project, path, add):
    """PRJ-6, MSG-1: every list is paged and costs the same at any length."""
    with_bot(project)
    add(project, 1)
    url = f"/projects/{project.pk}/{path}"
    with CaptureQueriesContext(connection) as one:
        assert owner_browser.get(url).status_code == 200
    add(project, 29)
    with CaptureQueriesContext(connection) as thirty:
        assert owner_browser.get(url).status_code == 200
    assert len(thirty) == len(one), [q["sql"][:100] for q in thirty.captured_queries]
    rows = owner_browser.get(url, headers={"hx-request": "true", "hx-target": "broadcast-rows"}) if path == "broadcasts/" else None
    if rows is not None:
        assert 'hx-trigger="every 2s"' in rows.content.decode()  # they are sending: the rows poll
