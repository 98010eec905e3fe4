"""`python manage.py verify_audit_log`: names every sealed day whose entries were changed, added
late or removed since it was sealed; exits 1 when there is any."""

from django.core.management.base import BaseCommand

from compliance.sealing import verify_audit_log


class Command(BaseCommand):
    help = "Check the audit log against its daily seals and name every day that no longer matches."

    def handle(self, *args, **options):
        bad = verify_audit_log()
        for day in bad:
            self.stdout.write(self.style.ERROR(str(day)))
        if bad:
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS("Every sealed day matches its seal."))
