from celery import shared_task

from accounts import services


@shared_task(acks_late=True)
def lift_expired_blocks() -> int:
    return services.lift_expired_blocks()


@shared_task(acks_late=True)
def send_notice(notice_id: int) -> bool:
    return services.send_notice(notice_id)


@shared_task(acks_late=True)
def send_notices_of(client_ids: list[int], events: list[str]) -> int:
    return services.send_notices_of(client_ids, events)
