"""PRJ-1: every section × level × route answers as the rule says, and a project one has no
access to is 404 on every route."""

from dataclasses import dataclass

import pytest

from projects.access import SECTIONS, Level
from projects.models import AddressBook, Project, ProjectMember
from tests.factories import add_member, api_as, make_client, make_project, make_subscriber

pytestmark = pytest.mark.django_db

ANY, OWNER = "any", "owner"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    needs: object  # ANY, OWNER or (section, level)
    body: object = None

    def call(self, api, world):
        body = self.body(world) if callable(self.body) else self.body
        return getattr(api, self.method)(self.path.format(**world), body, format="json")


ROUTES = [
    Route("get", "/api/v1/projects/{p}/", ANY),
    Route("patch", "/api/v1/projects/{p}/", ("settings", "full"), {"name": "Renamed"}),
    Route("delete", "/api/v1/projects/{p}/", OWNER),
    Route("get", "/api/v1/projects/{p}/statistics/", ("statistics", "view")),
    Route("get", "/api/v1/projects/{p}/members/", ("access_control", "view")),
    Route("post", "/api/v1/projects/{p}/members/", ("access_control", "full"), lambda w: {"email": w["newcomer"], "access": w["own_access"]}),
    Route("get", "/api/v1/projects/{p}/members/{m}/", ("access_control", "view")),
    Route("patch", "/api/v1/projects/{p}/members/{m}/", ("access_control", "full"), {"access": {}}),
    Route("delete", "/api/v1/projects/{p}/members/{m}/", ("access_control", "full")),
    Route("get", "/api/v1/projects/{p}/subscribers/", ("subscribers", "view")),
    Route("post", "/api/v1/projects/{p}/subscribers/", ("subscribers", "full"), {"email": "new@example.org", "consent": True}),
    Route("post", "/api/v1/projects/{p}/subscribers/import/", ("subscribers", "full"), {"consent_confirmed": True, "subscribers": [{"email": "imp@example.org"}]}),
    Route("post", "/api/v1/projects/{p}/subscribers/{s}/unsubscribe/", ("subscribers", "full")),
    Route("get", "/api/v1/projects/{p}/address-books/", ("address_books", "view")),
    Route("post", "/api/v1/projects/{p}/address-books/", ("address_books", "full"), {"name": "Leads"}),
    Route("get", "/api/v1/projects/{p}/address-books/{b}/contacts/", ("address_books", "view")),
    Route("post", "/api/v1/projects/{p}/address-books/{b}/contacts/import/", ("address_books", "full"), {"consent_confirmed": True, "contacts": [{"email": "c@example.org"}]}),
]

RANK = {"none": 0, "view": 1, "full": 2}


def expected(route: Route, *, is_owner: bool, access: dict) -> int | str:
    if not is_owner and all(level == "none" for level in access.values()):
        return 404
    if is_owner or route.needs == ANY:
        return "ok"
    if route.needs == OWNER:
        return 403
    section, level = route.needs
    return "ok" if RANK[access.get(section, "none")] >= RANK[level] else 403


def fresh_world(owner, actor_access: dict | None, actor):
    """A project with a subscriber, an address book and a second participant; the actor takes
    part with `actor_access` (or not at all, for None)."""
    project = make_project(owner=owner, name="Matrix")
    target = make_client(email=f"target{project.pk}@example.com")
    other_member = ProjectMember.objects.create(project=project, client=target)  # holds nothing
    if actor_access is not None and actor != owner:
        add_member(project=project, client=actor, **actor_access)
    book = AddressBook.objects.create(project=project, name="Book")
    subscriber = make_subscriber(project=project, email=f"s{project.pk}@example.org")
    newcomer = make_client(email=f"newcomer{project.pk}@example.com")
    return {
        "p": project.pk, "m": other_member.pk, "s": subscriber.pk, "b": book.pk,
        "newcomer": newcomer.email, "own_access": actor_access or {},
    }


def check_route(route, api, world, want):
    response = route.call(api, world)
    if want == "ok":
        assert 200 <= response.status_code < 300, (route, response.status_code, response.content[:300])
    else:
        assert response.status_code == want, (route, response.status_code, response.content[:300])
        if want == 403:
            assert response.json()["code"] == "permission_denied"


@pytest.fixture
def owner(db):
    from tests.factories import on_pro

    return on_pro(make_client(email="owner@example.com"))


@pytest.mark.parametrize("section", SECTIONS)
@pytest.mark.parametrize("level", Level.values)
def test_prj1_a_participant_with_one_section_at_one_level(owner, section, level):
    actor = make_client(email="actor@example.com")
    api = api_as(actor)
    access = {section: level}
    for route in ROUTES:
        world = fresh_world(owner, access, actor)
        want = expected(route, is_owner=False, access=access)
        check_route(route, api, world, want)
    listed = [p["id"] for p in api.get("/api/v1/projects/").json()["results"]]
    visible = level != "none"
    assert (world["p"] in listed) is visible


def test_prj1_the_owner_may_do_everything(owner):
    api = api_as(owner)
    for route in ROUTES:
        check_route(route, api, fresh_world(owner, None, owner), "ok")


def test_prj1_another_clients_project_is_404_on_every_route(owner):
    stranger = make_client(email="stranger@example.com")
    api = api_as(stranger)
    for route in ROUTES:
        world = fresh_world(owner, None, stranger)
        check_route(route, api, world, 404)
    assert api.get("/api/v1/projects/").json()["results"] == []
    assert Project.objects.get(pk=world["p"]).name == "Matrix"


def test_prj1_a_missing_project_is_404_like_a_hidden_one(owner):
    api = api_as(owner)
    hidden = api_as(make_client(email="x@example.com")).get("/api/v1/projects/999999/")
    assert hidden.status_code == 404 and api.get("/api/v1/projects/999999/").status_code == 404


def test_prj1_full_access_everywhere_but_ownership_still_cannot_delete(owner):
    actor = make_client(email="actor@example.com")
    everything = {s: "full" for s in SECTIONS}
    world = fresh_world(owner, everything, actor)
    response = api_as(actor).delete(f"/api/v1/projects/{world['p']}/")
    assert response.status_code == 403
    assert Project.objects.get(pk=world["p"]).deleted_at is None
