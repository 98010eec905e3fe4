"""A small cast for the tests, made through the same services production uses."""

from rest_framework.test import APIClient

PASSWORD = "correct-horse-battery"


def make_client(*, email: str, name: str = "Test Client", password: str = PASSWORD):
    from accounts import services

    return services.register_client(name=name, email=email, password=password, accept_terms=True, age_confirmed=True)


def key_for(client) -> str:
    from accounts import services

    _, secret = services.sign_in_key(client=client, name="test", actor=client)  # as a sign-in: blocked clients too (ACC-3)
    return secret


def api_as(client) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key_for(client)}")
    return api


def make_project(*, owner, name: str = "Shop bot", industry: str = "other"):
    from projects import services

    return services.create_project(owner=owner, name=name, industry=industry)


def on_pro(client):
    """Billing keeps the plan; until a test goes through billing, set it as billing would."""
    from django.utils import timezone

    from accounts.models import Client

    Client.objects.filter(pk=client.pk).update(tariff=Client.Tariff.PRO, tariff_since=timezone.now())
    client.refresh_from_db()
    return client


def add_member(*, project, client, **access):
    """A participant with the given levels (the rest none), granted by the owner."""
    from projects import selectors, services

    granter = selectors.project_access(client=project.owner, project_id=project.pk)
    return services.add_member(granter=granter, email=client.email, access=access, actor=project.owner)


def make_subscriber(*, project, email: str = "", phone: str = "", name: str = "Sub Scriber"):
    from projects import services

    return services.add_subscriber(project=project, actor=project.owner, name=name, email=email, phone=phone, consent=True)
