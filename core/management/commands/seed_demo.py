"""`seed_demo` (API.md): demo data for a first look. Safe to run twice: each part finds what it
made before.

Each app that has demo data keeps it in its own `demo.py` with a `seed()` returning lines to
print; they run in the order of INSTALLED_APPS, which is the order of dependency (DESIGN.md), so
projects find the clients that accounts made. Found by name, so core imports no app."""

from importlib import import_module

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.module_loading import module_has_submodule


class Command(BaseCommand):
    help = "Create a demo staff superuser, clients, projects and subscribers (idempotent)."

    # No transaction around the whole: billing's demo pays through the gateway, which is never
    # called inside one; each service commits its own steps and each part finds what it made.
    def handle(self, *args, **options):
        lines = []
        for app_config in apps.get_app_configs():
            ours = "site-packages" not in app_config.path
            if ours and module_has_submodule(app_config.module, "demo"):
                lines += import_module(f"{app_config.name}.demo").seed()
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        for line in [*lines, f"API docs: {settings.SITE_URL}/api/docs/"]:
            self.stdout.write(f"  {line}")
