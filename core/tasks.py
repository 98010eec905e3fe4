from smtplib import SMTPException

from celery import shared_task

from core import emails, outbox
from core.outbox import enqueue, enqueue_at  # noqa: F401 (where services import them from)

# An email the mail server refused, or could not be reached for, is tried again: 30 s, 1 min, 2
# min... up to an hour apart (issue 17, item 5). Bounded, because the inline Celery retries at
# once: the outbox sends it again later should every retry fail (`outbox.rearm_undone`).
EMAIL_RETRY = {"autoretry_for": (SMTPException, OSError), "retry_backoff": 30, "retry_backoff_max": 3600, "retry_jitter": True,
               "max_retries": 8}


@shared_task(acks_late=True, expires=120)
def relay_outbox() -> int:
    """Beat's relay (issue 17, item 5): every task kept in the outbox and not yet handed to the
    broker, sent; relayed rows older than a week, deleted."""
    outbox.rearm_undone(tasks=[send_email.name])
    relayed = outbox.relay_pending()
    outbox.prune()
    return relayed


@shared_task(bind=True, acks_late=True, **EMAIL_RETRY)
def send_email(self, message: dict) -> bool:
    """An email kept by `core.emails.send_later`; sent once even if relayed twice."""
    with outbox.once(self.request) as first:
        if first:
            emails.from_data(message).send()
    return first
