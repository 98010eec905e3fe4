from celery import shared_task

from accounts import services


@shared_task(acks_late=True)
def lift_expired_blocks() -> int:
    return services.lift_expired_blocks()


@shared_task(acks_late=True)
def send_notice(notice_id: int) -> bool:
    return services.send_notice(notice_id)
