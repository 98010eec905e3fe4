from celery import shared_task

from projects import services


@shared_task(acks_late=True)
def purge_project_data(project_id: int) -> int:
    return services.purge_project_data(project_id=project_id)
