"""ACC-1 registration by API and by the dashboard page; TAR-1 every client starts on Free."""

import re

import pytest
from allauth.account.models import EmailAddress

from accounts.models import Client
from compliance.models import AuditLog, LegalAcceptance

pytestmark = pytest.mark.django_db

GOOD = {
    "name": "Grace Hopper",
    "email": "Grace@Example.com",
    "password": "a-long-unusual-passphrase",
    "accept_terms": True,
    "age_confirmed": True,
}


def links_in(message) -> list[str]:
    return re.findall(r"https?://\S+", message.body)


def test_acc1_register_answers_201_and_records_consents(api, mailbox):
    response = api.post("/api/v1/auth/register/", GOOD, format="json")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "email", "name"}
    assert body["email"] == "grace@example.com"
    client = Client.objects.get(pk=body["id"])
    assert client.age_confirmed_at is not None
    assert {a.document.kind for a in LegalAcceptance.objects.filter(client=client)} == {"terms", "privacy"}
    assert AuditLog.objects.filter(action="account.registered", client=client).exists()


def test_tar1_new_client_starts_on_free(api):
    api.post("/api/v1/auth/register/", GOOD, format="json")
    client = Client.objects.get(email="grace@example.com")
    assert client.tariff == Client.Tariff.FREE


def test_acc1_verification_email_holds_one_link_that_verifies(api, mailbox):
    api.post("/api/v1/auth/register/", GOOD, format="json")

    assert len(mailbox) == 1
    assert mailbox[0].to == ["grace@example.com"]
    links = links_in(mailbox[0])
    assert len(links) == 1
    assert api.get(links[0]).status_code == 200  # shows a confirmation form
    assert not Client.objects.get(email="grace@example.com").email_verified
    api.post(links[0])

    client = Client.objects.get(email="grace@example.com")
    assert client.email_verified
    assert EmailAddress.objects.get(user=client).verified
    assert AuditLog.objects.filter(action="account.email_verified", client=client).exists()


def test_acc1_me_shows_email_verified_after_the_link(api, mailbox):
    api.post("/api/v1/auth/register/", GOOD, format="json")
    token = api.post("/api/v1/auth/token/", {"email": GOOD["email"], "password": GOOD["password"]}, format="json").json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/v1/me/").json()["email_verified"] is False
    link = links_in(mailbox[0])[0]
    api.post(link)
    assert api.get("/api/v1/me/").json()["email_verified"] is True


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"accept_terms": False}, "accept_terms"),
        ({"accept_terms": None}, "accept_terms"),
        ({"age_confirmed": False}, "age_confirmed"),
        ({"age_confirmed": None}, "age_confirmed"),
        ({"email": "not-an-email"}, "email"),
        ({"email": ""}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "password123"}, "password"),
        ({"password": "12345678901234"}, "password"),
        ({"name": ""}, "name"),
    ],
)
def test_acc1_bad_registration_answers_400_and_creates_nothing(api, mailbox, change, field):
    body = {k: v for k, v in {**GOOD, **change}.items() if v is not None}

    response = api.post("/api/v1/auth/register/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert isinstance(response.json()[field], list)
    assert not Client.objects.exists()
    assert not AuditLog.objects.exists()
    assert mailbox == []


def test_acc1_duplicate_email_in_another_case_answers_400(api, mailbox):
    assert api.post("/api/v1/auth/register/", GOOD, format="json").status_code == 201
    mailbox.clear()

    response = api.post("/api/v1/auth/register/", {**GOOD, "email": "GRACE@EXAMPLE.COM", "name": "Other"}, format="json")

    assert response.status_code == 400
    assert "email" in response.json()
    assert Client.objects.count() == 1
    assert Client.objects.get().name == "Grace Hopper"
    assert mailbox == []


def test_acc1_email_unique_case_insensitively_in_the_database(db):
    from django.db import IntegrityError, transaction

    Client.objects.create_user(email="x@example.com", password="p", name="X")
    with pytest.raises(IntegrityError), transaction.atomic():
        # Bypass the manager's normalisation: the database itself refuses.
        Client(email="X@EXAMPLE.COM", name="Y").save()


def test_acc1_dashboard_signup_page_registers_with_consents(client, mailbox):
    page = client.get("/accounts/signup/")
    assert page.status_code == 200
    assert b"accept_terms" in page.content and b"age_confirmed" in page.content

    response = client.post(
        "/accounts/signup/",
        {"name": "Dash User", "email": "dash@example.com", "password1": "a-long-unusual-passphrase", "accept_terms": "on", "age_confirmed": "on"},
    )

    assert response.status_code == 302
    created = Client.objects.get(email="dash@example.com")
    assert created.name == "Dash User" and created.age_confirmed_at is not None
    assert LegalAcceptance.objects.filter(client=created).count() == 2
    assert len(mailbox) == 1 and len(links_in(mailbox[0])) == 1


def test_acc1_dashboard_signup_without_age_shows_error_and_creates_nothing(client, mailbox):
    response = client.post(
        "/accounts/signup/",
        {"name": "Dash User", "email": "dash@example.com", "password1": "a-long-unusual-passphrase", "accept_terms": "on"},
    )
    assert response.status_code == 200
    assert b"16 or older" in response.content
    assert not Client.objects.exists()
    assert mailbox == []


def test_acc1_registration_is_throttled_per_ip(api, settings, db):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "register": "2/hour"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    for n in range(2):
        assert api.post("/api/v1/auth/register/", {**GOOD, "email": f"p{n}@example.com"}, format="json").status_code == 201
    response = api.post("/api/v1/auth/register/", {**GOOD, "email": "p3@example.com"}, format="json")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert not Client.objects.filter(email="p3@example.com").exists()
