"""PRJ-6 and MSG-1 end to end: real Bot API Updates posted to the webhook move a subscriber
through its funnel, and the messages reach the local Bot API server with the right chat, text
and keyboard."""

import pytest

from accounts import services as accounts
from projects import services as projects
from projects.models import FunnelState, FunnelStep, OutboundMessage, Subscriber, SubscriberTag
from projects.restrictions import restrict_projects
from tests.projects.funnel_kit import block, make_funnel, post, press, text

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(bot_project):
    return bot_project


def quiz(project):
    return make_funnel(
        project,
        block("hello", text="Hi! Do you like tea?", buttons=[("Yes", "yes"), ("No", "no")]),
        block("yes", text="Great, tea it is.", next="tag"),
        block("tag", "action", action="add_tag", tag="tea", next="bye"),
        block("no", text="Coffee then."),
        block("bye", text="See you."),
    )


def test_msg1_start_sends_the_start_block_with_its_keyboard_to_the_right_chat(client, project, telegram, django_capture_on_commit_callbacks):
    quiz(project)
    post(client, project, text("/start"), django_capture_on_commit_callbacks)
    [sent] = telegram.sent()
    assert sent["chat_id"] == "42" and sent["text"] == "Hi! Do you like tea?"
    assert sent["reply_markup"]["inline_keyboard"] == [[{"text": "Yes", "callback_data": "yes"}], [{"text": "No", "callback_data": "no"}]]
    message = OutboundMessage.objects.get()
    assert (message.status, message.block, message.telegram_message_id != "") == ("sent", "hello", True)


def test_prj6_a_button_press_moves_on_answers_the_callback_and_takes_the_keyboard_off(client, project, telegram, django_capture_on_commit_callbacks):
    quiz(project)
    post(client, project, text("/start"), django_capture_on_commit_callbacks)
    post(client, project, press("yes", message_id=77), django_capture_on_commit_callbacks)
    assert [m["text"] for m in telegram.sent()] == ["Hi! Do you like tea?", "Great, tea it is.", "See you."]
    assert len(telegram.calls("answerCallbackQuery")) == 1
    [edit] = telegram.calls("editMessageReplyMarkup")
    assert str(edit.body["message_id"]) == "77" and edit.body["reply_markup"] == {"inline_keyboard": []}
    subscriber = Subscriber.objects.get()
    assert list(SubscriberTag.objects.filter(subscriber=subscriber).values_list("name", flat=True)) == ["tea"]
    assert [s.block for s in FunnelStep.objects.order_by("id")] == ["hello", "yes", "tag", "bye"]


def test_prj6_a_stale_button_leads_nowhere_but_is_still_answered(client, project, telegram, django_capture_on_commit_callbacks):
    quiz(project)
    post(client, project, text("/start"), django_capture_on_commit_callbacks)
    post(client, project, press("no"), django_capture_on_commit_callbacks)
    post(client, project, press("yes"), django_capture_on_commit_callbacks)  # the first keyboard, pressed again later
    assert [m["text"] for m in telegram.sent()] == ["Hi! Do you like tea?", "Coffee then."]
    assert len(telegram.calls("answerCallbackQuery")) == 2


def test_prj6_a_typed_reply_matching_a_button_counts_as_the_press(client, project, telegram, django_capture_on_commit_callbacks):
    quiz(project)
    post(client, project, text("/start"), django_capture_on_commit_callbacks)
    post(client, project, text("no"), django_capture_on_commit_callbacks)
    assert [m["text"] for m in telegram.sent()][-1] == "Coffee then."


def test_prj6_conditions_on_fields_and_tags_and_actions_that_set_them(client, project, telegram, django_capture_on_commit_callbacks):
    make_funnel(
        project,
        block("set", "action", action="set_field", field="city", value="Kyiv", next="check"),
        block("check", "condition", field="city", value="Kyiv", next="kyiv", else_next="other"),
        block("kyiv", text="Hello Kyiv", next="tagged"),
        block("other", text="Hello world"),
        block("tagged", "condition", tag="vip", next="vip", else_next="plain"),
        block("vip", text="VIP"),
        block("plain", text="Not VIP"),
    )
    post(client, project, text("/start"), django_capture_on_commit_callbacks)
    assert [m["text"] for m in telegram.sent()] == ["Hello Kyiv", "Not VIP"]
    assert FunnelState.objects.get().fields == {"city": "Kyiv"}


def test_prj6_a_deep_link_enters_the_funnel_it_names(client, project, telegram, django_capture_on_commit_callbacks):
    make_funnel(project, block("a", text="First funnel"))
    second = make_funnel(project, block("b", text="Second funnel"), name="Promo")
    post(client, project, text(f"/start {second.pk}"), django_capture_on_commit_callbacks)
    post(client, project, text("/start", user_id=43), django_capture_on_commit_callbacks)
    assert [(m["chat_id"], m["text"]) for m in telegram.sent()] == [("42", "Second funnel"), ("43", "First funnel")]


def test_prj3_an_unsubscribe_action_ends_the_run_and_nothing_more_goes(client, project, telegram, django_capture_on_commit_callbacks):
    make_funnel(project, block("bye", "action", action="unsubscribe", next="after"), block("after", text="never sent"))
    post(client, project, text("/start"), django_capture_on_commit_callbacks)
    assert telegram.sent() == [] and Subscriber.objects.get().status == "unsubscribed"


def test_prj6_a_delay_schedules_its_task_and_a_retried_or_overtaken_one_does_nothing(client, project, telegram, django_capture_on_commit_callbacks, monkeypatch):
    from projects.funnels import runtime

    scheduled = []
    monkeypatch.setattr(runtime, "enqueue_at", lambda task, *args, eta: scheduled.append((task, args, eta)))
    make_funnel(project, block("hi", text="Hi", next="wait"), block("wait", "delay", delay_seconds=3600, next="later"), block("later", text="An hour later"))
    post(client, project, text("/start"), django_capture_on_commit_callbacks)
    [(task, (subscriber_id, funnel_id, key, token), eta)] = scheduled
    assert task == "projects.tasks.resume_funnel" and key == "later"
    assert 3590 < (eta - FunnelStep.objects.get(block="wait").entered_at).total_seconds() <= 3600
    with django_capture_on_commit_callbacks(execute=True):
        assert runtime.resume(subscriber_id=subscriber_id, funnel_id=funnel_id, block=key, token=token) == "ran"
    with django_capture_on_commit_callbacks(execute=True):
        assert runtime.resume(subscriber_id=subscriber_id, funnel_id=funnel_id, block=key, token=token) == "overtaken"
    assert [m["text"] for m in telegram.sent()] == ["Hi", "An hour later"]


@pytest.mark.parametrize("stop", ["suspended", "locked", "archived", "restricted_owner", "review"])
def test_msg1_a_stopped_project_or_restricted_owner_sends_nothing(client, project, telegram, django_capture_on_commit_callbacks, stop, client_account):
    quiz(project)
    post(client, project, text("/start"), django_capture_on_commit_callbacks)  # subscribed while it ran
    telegram.clear()
    if stop == "suspended":
        restrict_projects([project.pk], reason="complaint", ref="complaint:1")
    elif stop == "locked":
        restrict_projects([project.pk], reason="billing_lock")
    elif stop == "archived":
        projects.archive_owner_projects(owner=client_account)
    elif stop == "restricted_owner":
        accounts.suspend(client=client_account)
    else:
        projects.update_project(project=project, actor=client_account, industry="gambling")  # PRJ-7: waits for review
    post(client, project, press("yes"), django_capture_on_commit_callbacks)
    post(client, project, text("/start"), django_capture_on_commit_callbacks)
    assert telegram.sent() == []
    assert not OutboundMessage.objects.filter(status="sent").exclude(block="hello").exists()


def test_msg1_a_message_queued_before_the_owner_was_blocked_is_not_sent(client, project, telegram, client_account):
    """The gate is asked again when the message goes, not only when the funnel ran."""
    from projects.sending import messages

    quiz(project)
    subscriber = projects.add_subscriber(project=project, actor=client_account, email="a@example.com", consent=True)
    Subscriber.objects.filter(pk=subscriber.pk).update(messenger="telegram", messenger_user_id="42")
    message = OutboundMessage.objects.create(project=project, subscriber=subscriber, text="late")
    accounts.block(client=client_account, reason="abuse")
    assert messages.deliver(message.pk) == 0
    message.refresh_from_db()
    assert message.status == "skipped" and telegram.sent() == []


def test_msg1_an_unsubscribed_subscriber_is_never_messaged(client, project, telegram, django_capture_on_commit_callbacks):
    quiz(project)
    post(client, project, text("/start"), django_capture_on_commit_callbacks)
    post(client, project, text("/stop"), django_capture_on_commit_callbacks)
    telegram.clear()
    post(client, project, press("yes"), django_capture_on_commit_callbacks)
    assert telegram.sent() == []


def test_prj6_without_a_bot_the_webhook_runs_no_funnel(client, client_account, telegram, django_capture_on_commit_callbacks):
    from tests.factories import make_project

    bare = make_project(owner=client_account, name="No bot")
    make_funnel(bare, block("hi", text="Hi"))
    post(client, bare, text("/start"), django_capture_on_commit_callbacks)
    assert telegram.sent() == [] and Subscriber.objects.get(project=bare).status == "active"


def test_prj6_a_repeated_update_runs_the_funnel_once(client, project, telegram, django_capture_on_commit_callbacks):
    quiz(project)
    update = text("/start")
    post(client, project, update, django_capture_on_commit_callbacks)
    post(client, project, update, django_capture_on_commit_callbacks)
    pressed = press("no")
    post(client, project, pressed, django_capture_on_commit_callbacks)
    post(client, project, pressed, django_capture_on_commit_callbacks)
    assert [m["text"] for m in telegram.sent()] == ["Hi! Do you like tea?", "Coffee then."]


@pytest.mark.parametrize("user_id", [{"x": 1}, None, True, 1.5, "42", -5, 2**63])
def test_prj3_an_update_whose_sender_id_is_no_telegram_id_is_acknowledged_and_stores_nothing(client, project, telegram, user_id,
                                                                                             django_capture_on_commit_callbacks):
    quiz(project)
    update = text("/start")
    update["message"]["from"]["id"] = user_id
    post(client, project, update, django_capture_on_commit_callbacks)
    pressed = press("yes")
    pressed["callback_query"]["from"]["id"] = user_id
    post(client, project, pressed, django_capture_on_commit_callbacks)
    assert not Subscriber.objects.exists() and telegram.sent() == [] and not telegram.calls("answerCallbackQuery")
