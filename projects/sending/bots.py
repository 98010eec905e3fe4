"""A project's Telegram bot: connected with its token, which is checked with Telegram (`getMe`),
pointed at the project's webhook (`setWebhook` with the project's secret), stored encrypted and
never shown again."""

import re

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from accounts.models import Client
from compliance.services import record
from core.crypto import decrypt, encrypt
from core.exceptions import RuleRefused
from projects.audit_actions import Audit
from projects.channels import ChannelRefused, ChannelUnavailable, get_channel
from projects.models import Project, ProjectBot
from projects.services import check_project_writable

TOKEN = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{20,80}")


def connect_bot(*, project: Project, actor: Client, token: str) -> ProjectBot:
    """Connect the project's bot. Refused with 400 `invalid_bot_token` for a token that is not one
    or that Telegram refuses, 400 `webhook_refused` when Telegram refuses the platform's address
    (not public HTTPS), 503 `telegram_unavailable` when Telegram does not answer; nothing is
    stored then. The calls to Telegram happen before the transaction opens."""
    check_project_writable(project=project, actor=actor)
    token = token.strip()
    if not TOKEN.fullmatch(token):
        raise RuleRefused("invalid_bot_token", gettext_noop("That is not a Telegram bot token (it looks like 123456:ABC-DEF…)."), status=400)
    channel = get_channel()
    try:
        identity = channel.get_me(token=token)
    except ChannelRefused as exc:
        raise RuleRefused("invalid_bot_token", gettext_noop("Telegram refused this bot token."), status=400) from exc
    except ChannelUnavailable as exc:
        raise _unavailable() from exc
    try:
        channel.set_webhook(token=token, url=settings.SITE_URL + project.telegram_webhook_path, secret=project.telegram_secret)
    except ChannelRefused as exc:
        # Telegram takes only a public HTTPS address: a development server's is refused.
        raise RuleRefused("webhook_refused", gettext_noop("Telegram refused this platform's webhook address (%(url)s): it takes only a public HTTPS address."),
                          params={"url": settings.SITE_URL}, status=400) from exc
    except ChannelUnavailable as exc:
        raise _unavailable() from exc
    with transaction.atomic():
        check_project_writable(project=project, actor=actor)
        bot, _ = ProjectBot.objects.update_or_create(
            project=project,
            defaults={"token_encrypted": encrypt(token), "bot_id": identity.id, "username": identity.username[:64],
                      "name": identity.name[:128], "connected_at": timezone.now(), "connected_by": actor},
        )
        record(action=Audit.BOT_CONNECTED, actor=actor, target=project, client=project.owner,
               details={"bot_id": identity.id, "username": identity.username})
    return bot


def _unavailable() -> RuleRefused:
    return RuleRefused("telegram_unavailable", gettext_noop("Telegram did not answer. Please try again in a minute."), status=503)


def token_of(bot: ProjectBot) -> str:
    return decrypt(bot.token_encrypted)


