"""The Telegram webhook (PRJ-3, PRJ-6): a subscriber's START subscribes, a stop or a blocked bot
unsubscribes; each update is claimed once by its update_id. In a project with a bot, a START, a
button press (`callback_query`) or a reply is then handed to the funnel runtime's task: the
webhook stores and acknowledges, the funnel step runs elsewhere."""

import json

from django.core.exceptions import RequestDataTooBig
from django.db import connection, transaction
from django.utils import timezone

from core import outbox
from core.tasks import enqueue
from core.validation import BIGINT_MAX, MAX_JSON_DEPTH, payload_problem
from projects.models import Project, Subscriber, TelegramUpdate
from projects.services import takes_new_subscribers

FUNNEL_TASK = "projects.tasks.take_update"


class TelegramOutcome:
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    TO_FUNNEL = "to_funnel"


class NotAnUpdate(Exception):
    """The body is no Bot API Update at all (not JSON, too large, no update_id we could claim):
    answered 4xx, nothing stored. Telegram itself never sends one."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


class UpdateRefused(Exception):
    """An Update whose content no field may take (issue 17, item 1): a NUL or an unpaired
    surrogate in its text, an id that is no integer in range. Refused and acknowledged (200,
    nothing stored), so that Telegram stops re-sending it."""


def read_update(request) -> dict:
    """The Update a webhook request carries, or NotAnUpdate: a JSON object with an `update_id`
    that is an integer a bigint column holds (its claim is stored as one)."""
    try:
        body = request.body
    except RequestDataTooBig:
        raise NotAnUpdate(413, "body_too_large", "The body is larger than any Telegram Update.") from None
    try:
        update = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise NotAnUpdate(400, "parse_error", "The body is not JSON.") from None
    update_id = update.get("update_id") if isinstance(update, dict) else None
    if type(update_id) is not int or not 0 <= update_id <= BIGINT_MAX:
        raise NotAnUpdate(400, "invalid", f"Not a Telegram Update: no update_id that is an integer from 0 to {BIGINT_MAX}.")
    return update


def check_update(update: dict) -> None:
    """UpdateRefused unless every text of the Update can be stored and it is no deeper than any
    request of ours may be."""
    problem = payload_problem(update, max_depth=MAX_JSON_DEPTH)
    if problem:
        where, why = problem
        raise UpdateRefused(f"{where}: {why}")


def _user_id(user) -> str | None:
    """Telegram's user id of a sender: None when there is none (a channel's post); refused when
    it is not a Telegram User, whose id is a positive integer and whose names are text."""
    if user is None:
        return None
    if not isinstance(user, dict):
        raise UpdateRefused("from: not a Telegram User object.")
    uid = user.get("id")
    if type(uid) is not int or not 0 < uid <= BIGINT_MAX:
        raise UpdateRefused(f"from.id: a Telegram user id is an integer from 1 to {BIGINT_MAX}.")
    for part in ("first_name", "last_name"):
        if user.get(part) is not None and not isinstance(user.get(part), str):
            raise UpdateRefused(f"from.{part}: a name is text.")
    return str(uid)


def _telegram_action(update: dict) -> tuple[str, dict, str, dict] | None:
    """What an Update asks of us: ("start", user, payload, {}), ("stop", user, "", {}),
    ("press", user, data, {callback_id, chat_id, message_id}), ("reply", user, text, {}) or None."""
    message = update.get("message")
    if isinstance(message, dict):
        user, text = message.get("from"), message.get("text")
        if _user_id(user) is None or not isinstance(text, str):
            return None
        command, _, payload = text.strip().partition(" ")
        command = command.split("@", 1)[0].lower()  # "/start@SomeBot" in groups
        if command == "/start":
            return "start", user, payload.strip(), {}
        if command in ("stop", "/stop") and not payload.strip():
            return "stop", user, "", {}
        return "reply", user, text[:256], {}
    member = update.get("my_chat_member")
    if isinstance(member, dict):
        user, new = member.get("from"), member.get("new_chat_member")
        # The person blocked the bot: Telegram tells us so, and only so (PRJ-3).
        if _user_id(user) is not None and isinstance(new, dict) and new.get("status") == "kicked":
            return "stop", user, "", {}
    query = update.get("callback_query")
    if isinstance(query, dict) and _user_id(query.get("from")) is not None and isinstance(query.get("id"), str):
        data = query.get("data") if isinstance(query.get("data"), str) else ""
        held = query.get("message") if isinstance(query.get("message"), dict) else {}
        chat = held.get("chat") if isinstance(held.get("chat"), dict) else {}
        chat_id, message_id = chat.get("id"), held.get("message_id")
        return "press", query["from"], data[:64], {
            "callback_id": query["id"][:64],
            "chat_id": str(chat_id) if type(chat_id) is int else "",
            "message_id": str(message_id) if type(message_id) is int else "",
        }
    return None


# The hot path (bench/webhook.py): the update is claimed and applied in SQL written out here, one
# statement on PostgreSQL (a writable CTE: claim, then act only if the claim took), a short
# transaction of two statements elsewhere. The ORM would compile three queries per update.
_UPDATES = TelegramUpdate._meta.db_table
_SUBSCRIBERS = Subscriber._meta.db_table
_CLAIM = f"INSERT INTO {_UPDATES} (project_id, update_id, received_at) VALUES (%(project)s, %(update)s, %(now)s) ON CONFLICT (project_id, update_id) DO NOTHING RETURNING project_id"  # noqa: E501
_SUBSCRIBE = f"""
    INSERT INTO {_SUBSCRIBERS} (project_id, messenger, messenger_user_id, name, email, phone, status, source,
                                consent_at, consent_source, subscribed_at, unsubscribed_at)
    {{rows}}
    ON CONFLICT (project_id, messenger, messenger_user_id) WHERE NOT (messenger_user_id = '') DO UPDATE SET
        status = 'active', subscribed_at = excluded.subscribed_at, unsubscribed_at = NULL,
        consent_at = excluded.consent_at, consent_source = excluded.consent_source, name = excluded.name
    WHERE {_SUBSCRIBERS}.status = 'unsubscribed'
"""
_SUBSCRIBE_VALUES = "'telegram', %(user)s, %(name)s, '', '', 'active', 'telegram', %(now)s, %(consent)s, %(now)s, NULL"
_UNSUBSCRIBE = f"""
    UPDATE {_SUBSCRIBERS} SET status = 'unsubscribed', unsubscribed_at = %(now)s
    WHERE project_id = %(project)s AND messenger = 'telegram' AND messenger_user_id = %(user)s AND status = 'active'
"""
_ON_POSTGRESQL = {
    "start": f"WITH claimed AS ({_CLAIM}) " + _SUBSCRIBE.format(rows=f"SELECT project_id, {_SUBSCRIBE_VALUES} FROM claimed"),
    "stop": f"WITH claimed AS ({_CLAIM}) " + _UNSUBSCRIBE + " AND EXISTS (SELECT 1 FROM claimed)",
}
# A `/start` in a project with a bot: claimed, subscribed and its funnel task kept in the outbox,
# in one statement too (issue 17's load bench: the ORM's outbox write was a tenth of the request).
_START_TO_FUNNEL = (f"WITH claimed AS ({_CLAIM}), subscribed AS ("
                    + _SUBSCRIBE.format(rows=f"SELECT project_id, {_SUBSCRIBE_VALUES} FROM claimed") + ") " + outbox.insert_from("claimed"))
_ELSEWHERE = {
    "start": _SUBSCRIBE.format(rows=f"VALUES (%(project)s, {_SUBSCRIBE_VALUES})"),
    "stop": _UNSUBSCRIBE,
}


def _claim(project: Project, update_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM, {"project": project.pk, "update": update_id, "now": timezone.now()})
        return cursor.fetchone() is not None


def _to_funnel(project: Project, kind: str, user: str, payload: str, extra: dict) -> None:
    enqueue(FUNNEL_TASK, project.pk, {"kind": kind, "user": user, "payload": payload, **extra})


def handle_telegram_update(*, project: Project, update: dict) -> str:
    """Apply one Bot API Update (PRJ-3): `/start` (with or without a deep-link payload) subscribes
    or re-subscribes the sender; `stop`, `/stop` or blocking the bot (`my_chat_member` → kicked)
    unsubscribes. In a project with a bot, a `/start`, a button press or a reply also goes to the
    funnel runtime, in a task (PRJ-6). Anything else is accepted and ignored. A repeated update_id
    changes nothing: the claim of the update_id and its effect commit together or not at all.
    A project that takes no new subscribers records no `/start`, while a stop is always honoured.
    No outbound call here: the webhook answers at once. An Update with text no column can hold or
    an id out of range is refused (UpdateRefused) before anything is written (issue 17)."""
    check_update(update)
    action = _telegram_action(update)
    if action is None:
        return TelegramOutcome.IGNORED
    kind, user, payload, extra = action
    uid = _user_id(user)
    runs_funnels = getattr(project, "has_bot", False)
    if kind in ("press", "reply"):
        if not runs_funnels:
            return TelegramOutcome.IGNORED
        with transaction.atomic():
            if not _claim(project, update["update_id"]):
                return TelegramOutcome.DUPLICATE
            _to_funnel(project, kind, uid, payload, extra)
        return TelegramOutcome.TO_FUNNEL
    if kind == "start" and not takes_new_subscribers(project):
        return TelegramOutcome.IGNORED
    params = {
        "project": project.pk, "update": update["update_id"], "now": timezone.now(), "user": uid,
        "name": " ".join(str(part) for part in (user.get("first_name"), user.get("last_name")) if isinstance(part, str) and part)[:200],
        "consent": "Telegram /start" + (f" ({payload[:64]})" if payload else ""),
    }
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and kind == "start" and runs_funnels and outbox.kept():
            event = [project.pk, {"kind": kind, "user": uid, "payload": payload[:64]}]
            cursor.execute(_START_TO_FUNNEL, {**params, "outbox_task": FUNNEL_TASK, "outbox_args": outbox.arguments_json(event), **outbox.context_params()})
            claimed = cursor.fetchone()
            if claimed is None:
                return TelegramOutcome.DUPLICATE
            outbox.relay_after_commit(claimed[0], FUNNEL_TASK, event)
        elif connection.vendor == "postgresql" and not (kind == "start" and runs_funnels):
            cursor.execute(_ON_POSTGRESQL[kind], params)
        else:
            with transaction.atomic():
                cursor.execute(_CLAIM, params)
                if cursor.fetchone() is None:
                    return TelegramOutcome.DUPLICATE
                cursor.execute(_ELSEWHERE[kind], params)
                if kind == "start":
                    _to_funnel(project, kind, uid, payload[:64], {})
    return TelegramOutcome.SUBSCRIBED if kind == "start" else TelegramOutcome.UNSUBSCRIBED
