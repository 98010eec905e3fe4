"""`manage.py relay_outbox [--every SECONDS]`: hand the outbox's waiting tasks to Celery (issue 17,
item 5), once or in a loop. Beat's `relay-outbox` does the same every 30 s; this is for running it
by hand after an outage, or where beat does not run."""

import time

from django.core.management.base import BaseCommand

from core import outbox
from core.tasks import relay_outbox


class Command(BaseCommand):
    help = "Send the outbox's tasks that the broker has not taken yet."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=0, help="Run again every this many seconds (0: once).")

    def handle(self, *args, every: float = 0, **options):
        while True:
            relayed = relay_outbox()  # the beat task's own work, run here
            self.stdout.write(f"{relayed} relayed, {outbox.pending_count()} waiting")
            if not every:
                return
            time.sleep(every)
