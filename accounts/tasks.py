from celery import shared_task

from accounts import services
from core.tasks import EMAIL_RETRY


@shared_task(acks_late=True)
def lift_expired_blocks() -> int:
    return services.lift_expired_blocks()


# A notice is marked emailed only once its email went (NTF-1); a mail server that refuses it makes
# the task try again later (issue 17, item 5), and beat's send_pending_notices catches what is left.
@shared_task(acks_late=True, **EMAIL_RETRY)
def send_notice(notice_id: int) -> bool:
    return services.send_notice(notice_id)


@shared_task(acks_late=True, **EMAIL_RETRY)
def send_notices_of(client_ids: list[int], events: list[str]) -> int:
    return services.send_notices_of(client_ids, events)


@shared_task(acks_late=True, expires=600)
def send_pending_notices() -> int:
    return services.send_pending_notices()
