from django.db import transaction


def enqueue(task, *args, **kwargs) -> None:
    """Send a Celery task once the current transaction commits, so that a worker never looks for
    rows that are not there yet, nor acts on a change that was rolled back (DESIGN.md)."""
    transaction.on_commit(lambda: task.delay(*args, **kwargs))
