"""Demo data for a first look (API.md). Safe to run twice: it finds what it made before.

Each later capability adds its own demo data here (projects, subscribers, PRO clients, a night)."""

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import services
from accounts.models import Client

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-demo-pass"
CLIENT_PASSWORD = "client-demo-pass"
DEMO_CLIENTS = [
    ("Alice Demo", "alice@example.com"),
    ("Bob Demo", "bob@example.com"),
    ("Carol Demo", "carol@example.com"),
]


class Command(BaseCommand):
    help = "Create a demo staff superuser and a few clients with verified emails (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        admin = Client.objects.filter(email=ADMIN_EMAIL).first()
        if admin is None:
            admin = Client.objects.create_superuser(email=ADMIN_EMAIL, password=ADMIN_PASSWORD, name="Demo Admin")
        self._verify(admin)
        for name, email in DEMO_CLIENTS:
            client = Client.objects.filter(email=email).first()
            if client is None:
                client = services.register_client(
                    name=name, email=email, password=CLIENT_PASSWORD, accept_terms=True, age_confirmed=True, via="seed_demo"
                )
            self._verify(client)
        carol = Client.objects.get(email="carol@example.com")
        if not carol.state_changes.exists():
            services.block(client=carol, reason=Client.BlockReason.STAFF, actor=admin, note="Demo: a blocked client.")

        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  Admin:   http://127.0.0.1:8000/admin/  {ADMIN_EMAIL} / {ADMIN_PASSWORD}")
        self.stdout.write(f"  Clients: {', '.join(e for _, e in DEMO_CLIENTS)} / {CLIENT_PASSWORD}")
        self.stdout.write("  API docs: http://127.0.0.1:8000/api/docs/")

    def _verify(self, client: Client) -> None:
        EmailAddress.objects.update_or_create(
            user=client, email=client.email, defaults={"primary": True, "verified": True}
        )
        services.mark_email_verified(client=client, email=client.email)
