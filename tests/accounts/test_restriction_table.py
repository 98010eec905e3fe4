"""ACC-3 as a table: every API route a client calls × each restriction it may hold → allowed, or
refused with the rule's code and nothing changed in the database.

A restricted client may sign in, see why and until when, pay, export or delete its data and make
privacy requests; while any block holds it may not create or change projects, members,
subscribers or API keys, nor file complaints; while an `abuse` or `staff` block holds its
participations in others' projects are suspended too. The billing suspension (DUN-2) takes none of
this away: it suspends the projects, not the account's use."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services as accounts
from compliance.selectors import current_documents
from tests.billing.conftest import verified
from tests.factories import PASSWORD, add_member, api_as, make_client, make_project, make_subscriber
from tests.snapshot import changed_tables, database_state

pytestmark = pytest.mark.django_db

RESTRICTIONS = ["none", "suspension", "billing", "free_limit", "funnel_loop", "abuse", "staff"]
BLOCKS = {"billing", "free_limit", "funnel_loop", "abuse", "staff"}
PARTICIPATION_BLOCKS = {"abuse", "staff"}
ALLOWED, BLOCKED = "allowed", "blocked"

FUNNEL = {"name": "Hi", "start": "a", "blocks": [{"key": "a", "kind": "message", "text": "Hello"}]}
# (method, path, body, who may call it while blocked). Paths name the world's objects by key.
ROUTES = [
    ("get", "/api/v1/me/", None, ALLOWED),
    ("patch", "/api/v1/me/", {"language": "uk"}, ALLOWED),  # a restricted client still chooses its language
    ("get", "/api/v1/api-keys/", None, ALLOWED),
    ("post", "/api/v1/api-keys/", {"name": "ci"}, BLOCKED),
    ("delete", "/api/v1/api-keys/{spare_key}/", None, ALLOWED),  # taking access away is always possible
    ("get", "/api/v1/projects/", None, ALLOWED),
    ("post", "/api/v1/projects/", {"name": "Another"}, BLOCKED),
    ("get", "/api/v1/projects/{project}/", None, ALLOWED),
    ("patch", "/api/v1/projects/{project}/", {"name": "Renamed"}, BLOCKED),
    ("delete", "/api/v1/projects/{project}/", None, BLOCKED),
    ("get", "/api/v1/projects/{project}/statistics/", None, ALLOWED),
    ("get", "/api/v1/projects/{project}/members/", None, ALLOWED),
    ("post", "/api/v1/projects/{project}/members/", {"email": "third@example.com", "access": {"subscribers": "view"}}, BLOCKED),
    ("get", "/api/v1/projects/{project}/members/{member}/", None, ALLOWED),
    ("patch", "/api/v1/projects/{project}/members/{member}/", {"access": {"subscribers": "full"}}, BLOCKED),
    ("delete", "/api/v1/projects/{project}/members/{member}/", None, BLOCKED),
    ("get", "/api/v1/projects/{project}/subscribers/", None, ALLOWED),
    ("post", "/api/v1/projects/{project}/subscribers/", {"email": "new@example.org", "consent": True}, BLOCKED),
    ("post", "/api/v1/projects/{project}/subscribers/import/", {"consent_confirmed": True, "subscribers": [{"email": "i@example.org"}]}, BLOCKED),
    ("post", "/api/v1/projects/{project}/subscribers/{subscriber}/unsubscribe/", None, BLOCKED),
    ("get", "/api/v1/projects/{project}/address-books/", None, ALLOWED),
    ("post", "/api/v1/projects/{project}/address-books/", {"name": "Leads"}, BLOCKED),
    ("get", "/api/v1/projects/{project}/address-books/{book}/contacts/", None, ALLOWED),
    ("post", "/api/v1/projects/{project}/address-books/{book}/contacts/import/", {"consent_confirmed": True, "contacts": [{"email": "c@example.org"}]},
     BLOCKED),
    ("get", "/api/v1/projects/{project}/funnels/", None, ALLOWED),
    ("post", "/api/v1/projects/{project}/funnels/", FUNNEL, BLOCKED),
    ("get", "/api/v1/projects/{project}/funnels/{funnel}/", None, ALLOWED),
    ("put", "/api/v1/projects/{project}/funnels/{funnel}/", FUNNEL, BLOCKED),
    ("delete", "/api/v1/projects/{project}/funnels/{funnel}/", None, BLOCKED),
    ("get", "/api/v1/projects/{project}/bot/", None, ALLOWED),
    ("get", "/api/v1/projects/{project}/broadcasts/", None, ALLOWED),
    ("get", "/api/v1/projects/{project}/broadcasts/{broadcast}/", None, ALLOWED),
    ("post", "/api/v1/projects/{project}/broadcasts/{broadcast}/cancel/", None, BLOCKED),
    ("get", "/api/v1/billing/", None, ALLOWED),
    ("get", "/api/v1/billing/prices/", None, ALLOWED),
    ("get", "/api/v1/billing/deletion/", None, ALLOWED),
    ("put", "/api/v1/billing/card/", {"token": "tok_mastercard"}, ALLOWED),
    ("put", "/api/v1/billing/backup-card/", {"token": "tok_visa"}, ALLOWED),
    ("delete", "/api/v1/billing/backup-card/", None, ALLOWED),
    ("delete", "/api/v1/billing/card/", None, ALLOWED),
    ("get", "/api/v1/billing/upcoming/", None, ALLOWED),
    ("post", "/api/v1/billing/activate/", {"period": "monthly"}, ALLOWED),
    ("post", "/api/v1/billing/topup/", {"amount_cents": 1000}, ALLOWED),
    ("get", "/api/v1/billing/ledger/", None, ALLOWED),
    ("get", "/api/v1/billing/invoices/", None, ALLOWED),
    ("get", "/api/v1/legal/documents/", None, ALLOWED),
    ("post", "/api/v1/legal/accept/", {"documents": "{documents}"}, ALLOWED),
    ("get", "/api/v1/complaints/", None, ALLOWED),
    ("post", "/api/v1/complaints/", {"identification": "Ada, ada@example.com", "description": "Spam.", "period_start": "2027-01-01",
                                     "period_end": "2027-01-02"}, BLOCKED),
    ("get", "/api/v1/privacy/requests/", None, ALLOWED),
    ("post", "/api/v1/privacy/requests/", {"kind": "access"}, ALLOWED),
    ("get", "/api/v1/privacy/export/", None, ALLOWED),
    ("get", "/api/v1/consents/marketing/", None, ALLOWED),
    ("put", "/api/v1/consents/marketing/", {"given": True}, ALLOWED),
    ("get", "/api/v1/consents/cookies/", None, ALLOWED),
    ("put", "/api/v1/consents/cookies/", {"preference": True, "analytics": False, "marketing": False}, ALLOWED),
    ("delete", "/api/v1/me/", {"password": PASSWORD}, ALLOWED),
]


def restrict(client, restriction: str) -> None:
    if restriction == "suspension":
        accounts.suspend(client=client)
    elif restriction in BLOCKS:
        accounts.block(client=client, reason=restriction)


@pytest.fixture
def world(db):
    """A verified client with a card, a project with a participant, a subscriber and an address
    book, and a spare API key; and a host whose project the client takes part in."""
    from projects import services as projects
    from projects.selectors import project_access

    owner = verified("owner@example.com")
    from billing import services as billing

    billing.attach_card(client=owner, token="tok_visa", actor=owner)
    billing.attach_card(client=owner, token="tok_visa", role="backup", actor=owner)
    project = make_project(owner=owner)
    member = add_member(project=project, client=make_client(email="member@example.com"), subscribers="view")
    make_client(email="third@example.com")
    subscriber = make_subscriber(project=project, email="sub@example.org")
    book = projects.create_address_book(project=project, actor=owner, name="Book")
    spare, _ = accounts.create_api_key(client=owner, name="spare", actor=owner)
    host = make_client(email="host@example.com")
    hosted = make_project(owner=host, name="Host's bot")
    add_member(project=hosted, client=owner, settings="full", subscribers="full")
    assert project_access(client=owner, project_id=hosted.pk) is not None
    from core.crypto import encrypt
    from projects.models import Broadcast, Funnel, ProjectBot

    funnel = Funnel.objects.create(project=project, name="Welcome", start="a")
    ProjectBot.objects.create(project=project, token_encrypted=encrypt("1:x"), bot_id=1, username="shop_bot")
    broadcast = Broadcast.objects.create(project=project, text="Later", send_at=timezone.now() + timedelta(days=1))
    ids = {"funnel": funnel.pk, "broadcast": broadcast.pk, "project": project.pk, "member": member.pk, "subscriber": subscriber.pk, "book": book.pk, "spare_key": spare.pk,
           "hosted": hosted.pk, "documents": [d.pk for d in current_documents()]}
    return owner, ids


def call(api, method: str, path: str, body, ids: dict):
    if body is not None:
        body = {k: (ids["documents"] if v == "{documents}" else v) for k, v in body.items()}
    return getattr(api, method)(path.format(**ids), body, format="json")


@pytest.mark.parametrize("restriction", RESTRICTIONS)
@pytest.mark.parametrize(("method", "path", "body", "rule"), ROUTES, ids=[f"{m.upper()} {p}" for m, p, _, _ in ROUTES])
def test_acc3_route_by_restriction(world, restriction, method, path, body, rule):
    owner, ids = world
    restrict(owner, restriction)
    api = api_as(owner)
    refused = rule == BLOCKED and restriction in BLOCKS
    before = database_state() if refused else None

    response = call(api, method, path, body, ids)

    if refused:
        assert response.status_code == 403, response.content
        assert response.json()["code"] == "account_blocked"
        assert response.json()["detail"]
        assert changed_tables(before, database_state()) == []
    else:
        assert response.status_code < 400, (response.status_code, response.content[:300])


PARTICIPANT_ROUTES = [
    ("get", "/api/v1/projects/{hosted}/", None),
    ("patch", "/api/v1/projects/{hosted}/", {"name": "Taken over"}),
    ("get", "/api/v1/projects/{hosted}/subscribers/", None),
    ("post", "/api/v1/projects/{hosted}/subscribers/", {"email": "planted@example.org", "consent": True}),
]


@pytest.mark.parametrize("restriction", RESTRICTIONS)
@pytest.mark.parametrize(("method", "path", "body"), PARTICIPANT_ROUTES, ids=[f"{m.upper()} {p}" for m, p, _ in PARTICIPANT_ROUTES])
def test_acc3_participation_in_others_projects_by_restriction(world, restriction, method, path, body):
    """Only an `abuse` or `staff` block suspends the client's participations (reads included);
    a billing, Free-limit or loop block is about the client's own projects."""
    owner, ids = world
    restrict(owner, restriction)
    api = api_as(owner)
    before = database_state()

    response = call(api, method, path, body, ids)

    if restriction in PARTICIPATION_BLOCKS:
        assert (response.status_code, response.json()["code"]) == (403, "participation_suspended")
        assert changed_tables(before, database_state()) == []
    else:
        assert response.status_code < 400, (response.status_code, response.content[:300])


@pytest.mark.parametrize("restriction", RESTRICTIONS)
def test_acc3_the_project_list_hides_others_projects_only_while_participations_are_suspended(world, restriction):
    owner, ids = world
    restrict(owner, restriction)
    listed = {p["id"] for p in api_as(owner).get("/api/v1/projects/").json()["results"]}
    assert ids["project"] in listed
    assert (ids["hosted"] in listed) is (restriction not in PARTICIPATION_BLOCKS)


def test_acc3_token_sign_in_works_for_a_blocked_client(world):
    from rest_framework.test import APIClient

    owner, _ = world
    accounts.block(client=owner, reason="abuse")
    response = APIClient().post("/api/v1/auth/token/", {"email": owner.email, "password": PASSWORD}, format="json")
    assert response.status_code == 200
    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}")
    assert me.get("/api/v1/me/").json()["restrictions"][0]["reason"] == "abuse"


PRO_ROUTES = [
    ("get", "/api/v1/billing/invoices/{invoice}/pdf/", None),
    ("post", "/api/v1/billing/period/", {"period": "quarterly"}),
    ("post", "/api/v1/billing/deactivate/", {"confirm": True}),
]


@pytest.mark.parametrize("restriction", RESTRICTIONS)
@pytest.mark.parametrize(("method", "path", "body"), PRO_ROUTES, ids=[f"{m.upper()} {p}" for m, p, _ in PRO_ROUTES])
def test_acc3_a_restricted_pro_client_still_reaches_its_period_and_invoices(world, restriction, method, path, body):
    from billing import services as billing
    from billing.models import Invoice

    owner, ids = world
    billing.activate_pro(client=owner, period="monthly", actor=owner)
    restrict(owner, restriction)
    ids = {**ids, "invoice": Invoice.objects.filter(client=owner).latest("issued_at").number}

    response = call(api_as(owner), method, path, body, ids)

    assert response.status_code < 400, (response.status_code, response.content[:300])


# Routes that call Telegram when they are let through: only their refusal is checked here.
SENDING_ROUTES = [
    ("put", "/api/v1/projects/{project}/bot/", {"token": "123456:AAH-some-token-0123456789abcdef"}),
    ("post", "/api/v1/projects/{project}/broadcasts/", {"text": "News"}),
]


@pytest.mark.parametrize("restriction", sorted(BLOCKS))
@pytest.mark.parametrize(("method", "path", "body"), SENDING_ROUTES, ids=[f"{m.upper()} {p}" for m, p, _ in SENDING_ROUTES])
def test_acc3_a_blocked_client_neither_connects_a_bot_nor_broadcasts(world, restriction, method, path, body):
    owner, ids = world
    restrict(owner, restriction)
    api = api_as(owner)
    before = database_state()
    response = call(api, method, path, body, ids)
    assert response.status_code == 403 and response.json()["code"] == "account_blocked"
    assert changed_tables(before, database_state()) == []


def _shape(path: str) -> str:
    import re

    return re.sub(r"<[^>]+>|\{[^}]+\}", "*", path.lstrip("/"))


def test_acc3_the_table_covers_every_route_a_client_calls():
    """Every method of every signed-in client route is in one of the tables above."""
    from django.urls import get_resolver

    covered = {(m, _shape(p)) for m, p, *_ in ROUTES + PARTICIPANT_ROUTES + PRO_ROUTES + SENDING_ROUTES}
    anonymous = {"api/v1/auth/register/", "api/v1/auth/token/", "api/v1/auth/access-recovery/", "api/v1/public/subscribe/"}
    routes = set()

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
                continue
            path = prefix + str(pattern.pattern)
            view = getattr(pattern.callback, "cls", None)
            if path.startswith("api/v1/") and path not in anonymous and view is not None:
                routes.update((m, _shape(path)) for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m))

    walk(get_resolver().url_patterns)
    assert routes - covered == set()
