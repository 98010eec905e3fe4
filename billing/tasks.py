import datetime

from celery import shared_task

from billing import dunning, emails, night, payments
from core.tasks import enqueue


@shared_task(acks_late=True)
def reconcile_payments() -> int:
    return dunning.reconcile_payments()


@shared_task(acks_late=True)
def nightly(at: str | None = None) -> int:
    """The beat's night: the same thing as `manage.py run_nightly`."""
    run = night.run_nightly(at=datetime.datetime.fromisoformat(at) if at else None)
    return run.pk


@shared_task(acks_late=True)
def night_chunk(step: str, client_ids: list[int], day: str, at: str, counts: dict) -> dict:
    """One chunk of one step of a night, in a worker (the run fans chunks out when a broker is set)."""
    the_night = night.Night(
        day=datetime.date.fromisoformat(day), at=datetime.datetime.fromisoformat(at), counts={int(k): v for k, v in counts.items()}
    )
    try:
        return night.process(step, client_ids, the_night)
    finally:
        payments.stop_collectors()


@shared_task(acks_late=True)
def send_billing_email(client_id: int, kind: str) -> None:
    emails.send_billing_email(client_id=client_id, kind=kind)


@shared_task(acks_late=True)
def send_billing_emails(client_ids: list[int], kind: str) -> None:
    """A night chunk's emails of one kind: each its own task once here, so that one that fails is
    retried alone and the others are not sent twice; through the outbox, so that a broker down
    at this moment loses none of them (issue 17, item 5)."""
    for client_id in client_ids:
        enqueue(send_billing_email, client_id, kind)


@shared_task(acks_late=True)
def tell_price_change(policy_id: int) -> int:
    return emails.tell_price_change(policy_id)
