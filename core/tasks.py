from importlib import import_module

from celery import current_app
from django.db import transaction


def _task(task):
    if isinstance(task, str):
        if task not in current_app.tasks:  # its module registers it, as a worker's autodiscovery would
            import_module(task.rpartition(".")[0])
        return current_app.tasks[task]
    return task


def enqueue_at(task, *args, eta=None) -> None:
    """`enqueue`, to run at `eta` (None: at once). With the inline Celery it runs at once: a
    development server has no clock to wait on."""
    transaction.on_commit(lambda: _task(task).apply_async(args=args, eta=eta))


def enqueue(task, *args, **kwargs) -> None:
    """Send a Celery task once the current transaction commits, so that a worker never looks for
    rows that are not there yet, nor acts on a change that was rolled back (DESIGN.md). `task` is
    the task or its registered name: a service names the task so that it need not import the
    tasks module that imports it (imports run one way)."""

    transaction.on_commit(lambda: _task(task).delay(*args, **kwargs))
