from celery import shared_task

from compliance import services


@shared_task(acks_late=True)
def notify_document(document_id: int) -> int:
    """One batch of emails about a new version, then the next batch as its own task."""
    sent = services.notify_document_batch(document_id=document_id)
    if sent:
        notify_document.delay(document_id)
    return sent
