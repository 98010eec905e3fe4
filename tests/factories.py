"""A small cast for the tests, made through the same services production uses."""

from rest_framework.test import APIClient

PASSWORD = "correct-horse-battery"


def make_client(*, email: str, name: str = "Test Client", password: str = PASSWORD):
    from accounts import services

    return services.register_client(name=name, email=email, password=password, accept_terms=True, age_confirmed=True)


def key_for(client) -> str:
    from accounts import services

    _, secret = services.create_api_key(client=client, name="test", actor=client)
    return secret


def api_as(client) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key_for(client)}")
    return api
