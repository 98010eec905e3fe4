"""`python manage.py run_nightly [--at ISO8601] [--dry-run]` (API.md): the whole night."""

import datetime
import json

from django.core.management.base import BaseCommand, CommandError

from billing.night import run_nightly
from core.process import freeze_startup_objects


class Command(BaseCommand):
    help = "Count subscribers, adjust packages, renew periods, chase debt, apply retention: the night as of --at (default now)."

    def add_arguments(self, parser):
        parser.add_argument("--at", help="The instant to run as of, ISO 8601 with offset (default now).")
        parser.add_argument("--dry-run", action="store_true", help="Report what would be charged, credited, suspended and blocked; write nothing.")
        parser.add_argument("--inline", action="store_true", help="Run every chunk in this process, not on Celery workers.")

    def handle(self, *args, at=None, dry_run=False, inline=False, **options):
        moment = None
        if at:
            try:
                moment = datetime.datetime.fromisoformat(at)
            except ValueError:
                raise CommandError(f"--at {at!r} is not an ISO 8601 time, e.g. 2027-03-02T01:00:00+02:00.") from None
            if moment.tzinfo is None:
                raise CommandError("--at needs an offset, e.g. +02:00.")
        freeze_startup_objects()  # the night's rows are short-lived: the collector need not walk Django's
        run = run_nightly(at=moment, dry_run=dry_run, inline=inline)
        if dry_run:
            self.stdout.write(json.dumps(run.report, indent=2, default=str))
            return
        self.stdout.write(self.style.SUCCESS(f"Night of {run.night}: {run.status}."))
        for step in run.steps.all():
            failures = f", {len(step.failures)} failed" if step.failures else ""
            self.stdout.write(
                f"  {step.name:<10} {step.clients} clients ({step.skipped} done before){failures}; "
                f"charged {step.charged_cents}¢, credited {step.credited_cents}¢, {step.seconds or 0:.2f} s"
            )
