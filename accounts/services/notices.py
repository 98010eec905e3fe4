"""What the client is told (NTF-1): each event once, as a notice the dashboard lists and an email
sent after the change it tells of has committed. Links use `SITE_URL`, never the host of the
request or task that happened to run."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from accounts.models import Client, Notice
from accounts.services.preferences import language_of
from core.bulk import insert_rows
from core.tasks import enqueue

log = logging.getLogger(__name__)


def notify(*, client: Client, kind: str, event: str, subject, lines: list) -> Notice | None:
    """Record the notice of `event` (in the caller's transaction) and mail it once that commits.
    An event told before is not told again: returns None then. `subject` and `lines` may be lazy
    translations (`gettext_lazy`, `format_lazy`): they are written in the client's language."""
    with translation.override(language_of(client)):
        subject = str(subject)
        body = "\n\n".join(str(line) for line in lines)
    notice, made = Notice.objects.get_or_create(client=client, event=event[:120], defaults={"kind": kind, "subject": subject[:200], "body": body})
    if not made:
        return None
    enqueue("accounts.tasks.send_notice", notice.pk)  # after commit: a rolled-back change tells nothing
    return notice


@dataclass(slots=True)
class Draft:
    """One client's notice in a batch: what `notify` takes, with the language it is written in."""

    client_id: int
    language: str
    kind: str
    event: str
    subject: object
    lines: list


def notify_many(drafts: list[Draft], *, new_events: bool = False) -> None:
    """Many clients' notices at once (a night chunk's renewals): one insert, an event told before
    skipped by its unique key, and one task that mails them once the chunk commits (NTF-1).
    `new_events`: the events were born in this transaction (an invoice just numbered), so none can
    have been told, and the texts are written (str, in each client's language): the rows are copied
    in (COPY on PostgreSQL) without a conflict check."""
    if not drafts:
        return
    if new_events:  # written by a batch's writer already (str): rows straight to COPY
        insert_rows(Notice, [{"client_id": d.client_id, "kind": d.kind, "event": d.event[:120], "subject": d.subject[:200], "body": "\n\n".join(d.lines)}
                             for d in drafts])
    else:
        notices = []
        for draft in drafts:
            with translation.override(draft.language or settings.LANGUAGE_CODE):
                notices.append(Notice(client_id=draft.client_id, kind=draft.kind, event=draft.event[:120], subject=str(draft.subject)[:200],
                                      body="\n\n".join(str(line) for line in draft.lines)))
        Notice.objects.bulk_create(notices, ignore_conflicts=True, batch_size=2_000)
    enqueue("accounts.tasks.send_notices_of", sorted({d.client_id for d in drafts}), sorted({d.event[:120] for d in drafts}))


def send_notices_of(client_ids: list[int], events: list[str]) -> int:
    """Mail the notices of these events not mailed yet; how many were."""
    pending = Notice.objects.filter(client_id__in=client_ids, event__in=events, emailed_at__isnull=True).order_by("pk").values_list("pk", flat=True)
    return sum(send_notice(pk) for pk in list(pending))


# Notices not emailed this long after they were written (the mail server down, every retry spent)
# are sent by beat's sweep; older ones are left: news that late would mislead more than it tells.
PENDING_AFTER = timedelta(minutes=10)
PENDING_WITHIN = timedelta(days=3)


def send_pending_notices(*, now=None, limit: int = 2_000) -> int:
    """Mail the notices still not emailed (NTF-1, issue 17 item 5: an email that fails is retried,
    never dropped); stops at the first that fails (the mail server is down: the next sweep goes
    on). How many went."""
    now = now or timezone.now()
    pending = list(Notice.objects.filter(emailed_at__isnull=True, created_at__lte=now - PENDING_AFTER, created_at__gte=now - PENDING_WITHIN)
                   .order_by("pk").values_list("pk", flat=True)[:limit])
    sent = 0
    for pk in pending:
        try:
            sent += send_notice(pk)
        except Exception as exc:  # noqa: BLE001 (unsent stays unsent, for the next sweep)
            log.warning("notice %s not emailed: %r", pk, exc)
            break
    return sent


def send_notice(notice_id: int) -> bool:
    """The notice's email, HTML with a text part; sent once (a retried task finds it sent), and
    marked emailed only once it went: a failure leaves it unmarked, and raises for the retry."""
    with transaction.atomic():
        notice = Notice.objects.select_for_update().select_related("client").filter(pk=notice_id, emailed_at__isnull=True).first()
        if notice is None:
            return False
        with translation.override(language_of(notice.client)):
            _send(notice)
        notice.emailed_at = timezone.now()
        notice.save(update_fields=["emailed_at"])
    return True


def _send(notice: Notice) -> None:
    """Mail the notice, in the language active (the client's)."""
    context = {"notice": notice, "client": notice.client, "site_url": settings.SITE_URL, "site_name": settings.SITE_NAME,
               "paragraphs": notice.body.split("\n\n")}
    message = EmailMultiAlternatives(f"[{settings.SITE_NAME}] {notice.subject}", render_to_string("emails/notice.txt", context), None,
                                     [notice.client.email])
    message.attach_alternative(render_to_string("emails/notice.html", context), "text/html")
    message.send()
