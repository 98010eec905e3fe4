"""The Telegram webhook (PRJ-3): a subscriber's START subscribes, a stop or a blocked bot
unsubscribes; each update is claimed once by its update_id."""



from django.db import connection, transaction
from django.utils import timezone

from projects.models import Project, Subscriber, TelegramUpdate
from projects.services import takes_new_subscribers


class TelegramOutcome:
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


def _telegram_action(update: dict) -> tuple[str, dict, str] | None:
    """What an Update asks of us: ("start", user, payload), ("stop", user, "") or None."""
    message = update.get("message")
    if isinstance(message, dict):
        user, text = message.get("from"), message.get("text")
        if not isinstance(user, dict) or not isinstance(text, str) or "id" not in user:
            return None
        command, _, payload = text.strip().partition(" ")
        command = command.split("@", 1)[0].lower()  # "/start@SomeBot" in groups
        if command == "/start":
            return "start", user, payload.strip()
        if command in ("stop", "/stop") and not payload.strip():
            return "stop", user, ""
        return None
    member = update.get("my_chat_member")
    if isinstance(member, dict):
        user, new = member.get("from"), member.get("new_chat_member")
        # The person blocked the bot: Telegram tells us so, and only so (PRJ-3).
        if isinstance(user, dict) and "id" in user and isinstance(new, dict) and new.get("status") == "kicked":
            return "stop", user, ""
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
_ELSEWHERE = {
    "start": _SUBSCRIBE.format(rows=f"VALUES (%(project)s, {_SUBSCRIBE_VALUES})"),
    "stop": _UNSUBSCRIBE,
}


def handle_telegram_update(*, project: Project, update: dict) -> str:
    """Apply one Bot API Update (PRJ-3): `/start` (with or without a deep-link payload) subscribes
    or re-subscribes the sender; `stop`, `/stop` or blocking the bot (`my_chat_member` → kicked)
    unsubscribes. Anything else is accepted and ignored. A repeated update_id changes nothing:
    the claim of the update_id and its effect commit together or not at all.
    A project that takes no new subscribers records no `/start`, while a stop is always honoured.
    No outbound call here: the webhook answers at once."""
    action = _telegram_action(update)
    if action is None:
        return TelegramOutcome.IGNORED
    kind, user, payload = action
    if kind == "start" and not takes_new_subscribers(project):
        return TelegramOutcome.IGNORED
    params = {
        "project": project.pk, "update": update["update_id"], "now": timezone.now(), "user": str(user["id"]),
        "name": " ".join(str(part) for part in (user.get("first_name"), user.get("last_name")) if part)[:200],
        "consent": "Telegram /start" + (f" ({payload[:64]})" if payload else ""),
    }
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_ON_POSTGRESQL[kind], params)
        else:
            with transaction.atomic():
                cursor.execute(_CLAIM, params)
                if cursor.fetchone() is None:
                    return TelegramOutcome.DUPLICATE
                cursor.execute(_ELSEWHERE[kind], params)
    return TelegramOutcome.SUBSCRIBED if kind == "start" else TelegramOutcome.UNSUBSCRIBED
