from celery import shared_task

from compliance import services


@shared_task(acks_late=True)
def notify_document(document_id: int, attempt: int = 0) -> int:
    """One batch of emails about a new version; the service queues the next batch (or, when the
    mail server failed, the same one later) through the outbox (issue 17, item 5)."""
    return services.notify_document_batch(document_id=document_id, attempt=attempt)


@shared_task(acks_late=True, expires=600)
def resume_document_notices() -> int:
    """Beat's safety net: a version whose clients are not all told gets its chain started again."""
    return services.resume_document_notices()
