"""Demo accounts for a first look: a staff superuser and three verified clients, one blocked."""

from allauth.account.models import EmailAddress
from django.conf import settings

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


def _verify(client: Client) -> None:
    EmailAddress.objects.update_or_create(user=client, email=client.email, defaults={"primary": True, "verified": True})
    services.mark_email_verified(client=client, email=client.email)


def seed() -> list[str]:
    admin = Client.objects.filter(email=ADMIN_EMAIL).first()
    if admin is None:
        admin = Client.objects.create_superuser(email=ADMIN_EMAIL, password=ADMIN_PASSWORD, name="Demo Admin")
    _verify(admin)
    for name, email in DEMO_CLIENTS:
        client = Client.objects.filter(email=email).first()
        if client is None:
            client = services.register_client(
                name=name, email=email, password=CLIENT_PASSWORD, accept_terms=True, age_confirmed=True, via="seed_demo"
            )
        _verify(client)
    carol = Client.objects.get(email="carol@example.com")
    if not carol.state_changes.exists():
        services.block(client=carol, reason=Client.BlockReason.STAFF, actor=admin, note="Demo: a blocked client.")
    return [
        f"Admin:   {settings.SITE_URL}/admin/  {ADMIN_EMAIL} / {ADMIN_PASSWORD}",
        f"Clients: {', '.join(e for _, e in DEMO_CLIENTS)} / {CLIENT_PASSWORD}",
    ]
