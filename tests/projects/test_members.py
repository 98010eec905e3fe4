"""PRJ-1: inviting participants, granting what one holds, the owner's rights untouchable."""

import pytest

from compliance.models import AuditLog
from projects.models import ProjectMember
from tests.factories import add_member, api_as, make_client, make_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(client_account):
    return make_project(owner=client_account)


def members_path(project, member=None) -> str:
    return f"/api/v1/projects/{project.pk}/members/" + (f"{member.pk}/" if member else "")


def test_prj1_the_owner_invites_an_existing_client_by_email(project, client_account, other_account):
    response = api_as(client_account).post(
        members_path(project), {"email": "BO@example.com", "access": {"subscribers": "view", "statistics": "full"}}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "bo@example.com"
    assert body["access"] == {
        "funnels": "none", "subscribers": "view", "address_books": "none", "messages": "none",
        "statistics": "full", "settings": "none", "access_control": "none",
    }
    assert AuditLog.objects.filter(action="project.member_added", actor=client_account).exists()
    seen = api_as(other_account).get(f"/api/v1/projects/{project.pk}/").json()
    assert seen["is_owner"] is False and seen["access"]["subscribers"] == "view"
    assert "telegram_secret" not in seen and "telegram_webhook_path" not in seen


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "nobody@example.com", "access": {"subscribers": "view"}}, "email"),
        ({"email": "bo@example.com", "access": {"billing": "full"}}, "access"),
        ({"email": "bo@example.com", "access": {"subscribers": "admin"}}, "access"),
        ({"email": "not-an-email", "access": {}}, "email"),
        ({"email": "bo@example.com"}, "access"),
    ],
)
def test_prj1_bad_invitations_are_400_and_change_nothing(project, client_account, other_account, body, field):
    response = api_as(client_account).post(members_path(project), body, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not ProjectMember.objects.exists()


def test_prj1_nobody_can_take_the_owners_rights(project, client_account, other_account):
    add_member(project=project, client=other_account, **{s: "full" for s in ("subscribers", "access_control", "settings")})
    response = api_as(other_account).post(members_path(project), {"email": client_account.email, "access": {}}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "owner_rights"
    assert api_as(client_account).get(f"/api/v1/projects/{project.pk}/").json()["is_owner"] is True


def test_prj1_a_participant_with_full_access_control_grants_what_it_holds(project, other_account):
    add_member(project=project, client=other_account, access_control="full", subscribers="full", statistics="view")
    granted = []
    for n in range(3):  # to any number of clients
        newcomer = make_client(email=f"new{n}@example.com")
        response = api_as(other_account).post(
            members_path(project), {"email": newcomer.email, "access": {"subscribers": "full", "statistics": "view"}}, format="json"
        )
        assert response.status_code == 201
        granted.append(response.json()["id"])
    assert ProjectMember.objects.filter(pk__in=granted, subscribers="full").count() == 3


def test_prj1_a_participant_cannot_grant_more_than_it_holds(project, other_account):
    add_member(project=project, client=other_account, access_control="full", statistics="view")
    newcomer = make_client(email="new@example.com")
    for access in ({"statistics": "full"}, {"settings": "view"}):
        response = api_as(other_account).post(members_path(project), {"email": newcomer.email, "access": access}, format="json")
        assert response.status_code == 409 and response.json()["code"] == "access_not_held"
    assert not ProjectMember.objects.filter(client=newcomer).exists()


def test_prj1_view_access_control_may_list_but_not_grant(project, other_account):
    add_member(project=project, client=other_account, access_control="view", subscribers="full")
    api = api_as(other_account)
    assert api.get(members_path(project)).status_code == 200
    newcomer = make_client(email="new@example.com")
    response = api.post(members_path(project), {"email": newcomer.email, "access": {"subscribers": "view"}}, format="json")
    assert response.status_code == 403


def test_prj1_a_participant_cannot_lower_one_who_holds_more(project, client_account, other_account):
    add_member(project=project, client=other_account, access_control="full")
    senior = add_member(project=project, client=make_client(email="senior@example.com"), access_control="full", settings="full")
    api = api_as(other_account)
    response = api.patch(members_path(project, senior), {"access": {}}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "access_not_held"
    assert api.delete(members_path(project, senior)).status_code == 409
    senior.refresh_from_db()
    assert senior.settings == "full"
    # The owner can.
    assert api_as(client_account).patch(members_path(project, senior), {"access": {"settings": "view"}}, format="json").status_code == 200
    senior.refresh_from_db()
    assert (senior.settings, senior.access_control) == ("view", "none")


def test_prj1_inviting_twice_is_refused(project, client_account, other_account):
    add_member(project=project, client=other_account, statistics="view")
    response = api_as(client_account).post(members_path(project), {"email": other_account.email, "access": {}}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "already_member"


def test_prj1_a_participant_may_leave(project, other_account):
    member = add_member(project=project, client=other_account, statistics="view")
    api = api_as(other_account)
    assert api.delete(members_path(project, member)).status_code == 204
    assert api.get(f"/api/v1/projects/{project.pk}/").status_code == 404
    assert AuditLog.objects.filter(action="project.member_removed", details__left=True).exists()


def test_prj1_changing_access_takes_effect_at_once_and_is_audited(project, client_account, other_account):
    member = add_member(project=project, client=other_account, subscribers="full")
    api = api_as(other_account)
    assert api.get(f"/api/v1/projects/{project.pk}/subscribers/").status_code == 200
    api_as(client_account).patch(members_path(project, member), {"access": {"statistics": "view"}}, format="json")
    assert api.get(f"/api/v1/projects/{project.pk}/subscribers/").status_code == 403
    entry = AuditLog.objects.get(action="project.member_changed")
    assert entry.details["from"]["subscribers"] == "full" and entry.details["to"]["subscribers"] == "none"
