"""What the client is told (NTF-1): each event once, as a notice the dashboard lists and an email
sent after the change it tells of has committed. Links use `SITE_URL`, never the host of the
request or task that happened to run."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import Client, Notice
from core.tasks import enqueue


def notify(*, client: Client, kind: str, event: str, subject: str, lines: list[str]) -> Notice | None:
    """Record the notice of `event` (in the caller's transaction) and mail it once that commits.
    An event told before is not told again: returns None then."""
    body = "\n\n".join(lines)
    notice, made = Notice.objects.get_or_create(client=client, event=event[:120], defaults={"kind": kind, "subject": subject[:200], "body": body})
    if not made:
        return None
    enqueue("accounts.tasks.send_notice", notice.pk)  # after commit: a rolled-back change tells nothing
    return notice


def send_notice(notice_id: int) -> bool:
    """The notice's email, HTML with a text part; sent once (a retried task finds it sent)."""
    with transaction.atomic():
        notice = Notice.objects.select_for_update().select_related("client").filter(pk=notice_id, emailed_at__isnull=True).first()
        if notice is None:
            return False
        context = {"notice": notice, "client": notice.client, "site_url": settings.SITE_URL, "site_name": settings.SITE_NAME,
                   "paragraphs": notice.body.split("\n\n")}
        message = EmailMultiAlternatives(f"[{settings.SITE_NAME}] {notice.subject}", render_to_string("emails/notice.txt", context), None,
                                         [notice.client.email])
        message.attach_alternative(render_to_string("emails/notice.html", context), "text/html")
        message.send()
        notice.emailed_at = timezone.now()
        notice.save(update_fields=["emailed_at"])
    return True
