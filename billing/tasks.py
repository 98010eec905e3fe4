from celery import shared_task

from billing import services


@shared_task(acks_late=True)
def reconcile_payments() -> int:
    return services.reconcile_unknown_attempts()
