"""Projects through the API: the Free stint (TAR-2), industries (PRJ-7), blocks (ACC-3) and
archived projects (PRJ-2)."""

import datetime

import pytest
import time_machine
from django.utils import timezone

from accounts import services as accounts
from accounts.models import Client
from compliance.models import AuditLog
from projects import services
from projects.models import Project
from tests.factories import api_as, make_project, on_pro

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_api(client_account):
    return api_as(client_account)


def test_prj1_the_creator_is_the_owner_and_sees_its_webhook(owner_api, client_account):
    response = owner_api.post("/api/v1/projects/", {"name": "Shop bot"})
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Shop bot" and body["is_owner"] is True and body["status"] == "active"
    assert body["industry"] == "other" and body["active_subscribers"] == 0
    project = Project.objects.get(pk=body["id"])
    assert project.owner == client_account
    assert body["telegram_webhook_path"] == f"/webhooks/telegram/{project.telegram_webhook_token}/"
    assert body["telegram_secret"] == project.telegram_secret
    assert AuditLog.objects.filter(action="project.created", target_id=str(project.pk), actor=client_account).exists()


def test_prj1_bad_input_is_400_and_nothing_is_made(owner_api):
    assert owner_api.post("/api/v1/projects/", {"name": ""}).status_code == 400
    response = owner_api.post("/api/v1/projects/", {"name": "X", "industry": "piracy-inc"})
    assert response.status_code == 400 and "industry" in response.json()
    assert not Project.objects.exists()


def test_tar2_a_third_project_on_free_is_refused(owner_api):
    assert owner_api.post("/api/v1/projects/", {"name": "One"}).status_code == 201
    assert owner_api.post("/api/v1/projects/", {"name": "Two"}).status_code == 201
    response = owner_api.post("/api/v1/projects/", {"name": "Three"})
    assert response.status_code == 409
    assert response.json()["code"] == "free_project_limit" and response.json()["detail"]
    assert Project.objects.count() == 2


def test_tar2_deleting_a_project_does_not_give_the_slot_back(owner_api):
    first = owner_api.post("/api/v1/projects/", {"name": "One"}).json()
    owner_api.post("/api/v1/projects/", {"name": "Two"})
    assert owner_api.delete(f"/api/v1/projects/{first['id']}/").status_code == 204
    assert owner_api.get(f"/api/v1/projects/{first['id']}/").status_code == 404
    assert len(owner_api.get("/api/v1/projects/").json()["results"]) == 1
    response = owner_api.post("/api/v1/projects/", {"name": "Three"})
    assert response.status_code == 409 and response.json()["code"] == "free_project_limit"


def test_tar2_pro_has_no_project_limit(owner_api, client_account):
    on_pro(client_account)
    for n in range(4):
        assert owner_api.post("/api/v1/projects/", {"name": f"P{n}"}).status_code == 201


def test_tar2_a_new_free_stint_starts_a_new_count(client_account):
    make_project(owner=client_account)
    make_project(owner=client_account)
    with time_machine.travel(timezone.now() + datetime.timedelta(days=40)):
        # PRO came and went: billing sets the plan back to Free, from now.
        Client.objects.filter(pk=client_account.pk).update(tariff="free", tariff_since=timezone.now())
        make_project(owner=client_account)
        make_project(owner=client_account)
        with pytest.raises(Exception) as refused:
            make_project(owner=client_account)
    assert refused.value.code == "free_project_limit"


def test_prj7_an_industry_of_tou_21_6_waits_for_staff_review(owner_api):
    body = owner_api.post("/api/v1/projects/", {"name": "Pills", "industry": "pharmaceuticals"}).json()
    assert body["review"] == "pending" and body["may_send"] is False
    plain = owner_api.post("/api/v1/projects/", {"name": "Books", "industry": "education"}).json()
    assert plain["review"] == "not_needed" and plain["may_send"] is True


def test_prj7_staff_clear_the_project_and_it_may_send(owner_api, staff):
    body = owner_api.post("/api/v1/projects/", {"name": "Casino", "industry": "gambling"}).json()
    project = Project.objects.get(pk=body["id"])
    services.review_project(project=project, actor=staff, cleared=True)
    again = owner_api.get(f"/api/v1/projects/{project.pk}/").json()
    assert again["review"] == "cleared" and again["may_send"] is True
    assert AuditLog.objects.filter(action="project.review_cleared", actor=staff).exists()


def test_prj7_changing_the_industry_away_does_not_skip_the_review(owner_api):
    body = owner_api.post("/api/v1/projects/", {"name": "Loans", "industry": "mortgages_loans"}).json()
    changed = owner_api.patch(f"/api/v1/projects/{body['id']}/", {"industry": "education"}).json()
    assert changed["industry"] == "education" and changed["review"] == "pending"


def test_prj7_moving_into_a_reviewed_industry_needs_review(owner_api):
    body = owner_api.post("/api/v1/projects/", {"name": "Shop"}).json()
    changed = owner_api.patch(f"/api/v1/projects/{body['id']}/", {"industry": "tobacco"}).json()
    assert changed["review"] == "pending" and changed["may_send"] is False


def test_prj1_owner_renames_its_project(owner_api):
    body = owner_api.post("/api/v1/projects/", {"name": "Shop"}).json()
    response = owner_api.patch(f"/api/v1/projects/{body['id']}/", {"name": "Shop bot"})
    assert response.status_code == 200 and response.json()["name"] == "Shop bot"
    assert owner_api.patch(f"/api/v1/projects/{body['id']}/", {"name": ""}).status_code == 400
    assert Project.objects.get(pk=body["id"]).name == "Shop bot"


def test_acc3_a_blocked_owner_cannot_change_projects_but_reaches_me_and_keys(client_account, owner_api):
    project = make_project(owner=client_account)
    accounts.block(client=client_account, reason="billing")
    for method, path, body in [
        ("patch", f"/api/v1/projects/{project.pk}/", {"name": "New"}),
        ("delete", f"/api/v1/projects/{project.pk}/", None),
        ("post", f"/api/v1/projects/{project.pk}/subscribers/", {"email": "a@example.org", "consent": True}),
        ("post", f"/api/v1/projects/{project.pk}/subscribers/import/", {"consent_confirmed": True, "subscribers": [{"email": "b@example.org"}]}),
        ("post", f"/api/v1/projects/{project.pk}/address-books/", {"name": "Leads"}),
        ("post", "/api/v1/projects/", {"name": "Another"}),
    ]:
        response = getattr(owner_api, method)(path, body, format="json")
        assert response.status_code == 403, (method, path)
        assert response.json()["code"] == "account_blocked"
    project.refresh_from_db()
    assert project.name == "Shop bot" and project.deleted_at is None
    assert owner_api.get("/api/v1/me/").json()["status"] == "blocked"
    assert owner_api.get("/api/v1/api-keys/").status_code == 200
    assert owner_api.post("/api/v1/api-keys/", {"name": "still"}).status_code == 403  # ACC-3: no new keys while blocked
    assert owner_api.get(f"/api/v1/projects/{project.pk}/").status_code == 200
    assert owner_api.get(f"/api/v1/projects/{project.pk}/subscribers/").status_code == 200


def test_acc3_a_participant_in_a_blocked_owners_project_cannot_change_it(client_account, other_account):
    from tests.factories import add_member

    project = make_project(owner=client_account)
    add_member(project=project, client=other_account, subscribers="full", settings="full")
    accounts.block(client=client_account, reason="billing")
    response = api_as(other_account).patch(f"/api/v1/projects/{project.pk}/", {"name": "Taken"})
    assert response.status_code == 403 and response.json()["code"] == "account_blocked"


def test_acc3_a_suspended_owner_may_still_change_its_projects(client_account, owner_api):
    project = make_project(owner=client_account)
    accounts.suspend(client=client_account)
    assert owner_api.patch(f"/api/v1/projects/{project.pk}/", {"name": "Renamed"}).status_code == 200


def test_acc3_a_timed_block_past_its_end_no_longer_refuses(client_account, owner_api):
    project = make_project(owner=client_account)
    accounts.block(client=client_account, reason="funnel_loop", until=timezone.now() + datetime.timedelta(days=1))
    assert owner_api.patch(f"/api/v1/projects/{project.pk}/", {"name": "Soon"}).status_code == 403
    with time_machine.travel(timezone.now() + datetime.timedelta(days=2)):
        assert owner_api.patch(f"/api/v1/projects/{project.pk}/", {"name": "Later"}).status_code == 200


def test_prj2_an_archived_project_can_be_read_not_changed(client_account, owner_api):
    project = make_project(owner=client_account)
    Project.objects.filter(pk=project.pk).update(status=Project.Status.ARCHIVED)
    assert owner_api.get(f"/api/v1/projects/{project.pk}/").json()["status"] == "archived"
    response = owner_api.patch(f"/api/v1/projects/{project.pk}/", {"name": "New"})
    assert response.status_code == 409 and response.json()["code"] == "project_archived"
    assert Project.objects.get(pk=project.pk).name == "Shop bot"


def test_prj1_deleting_purges_subscribers_and_keeps_the_row(client_account, owner_api, django_capture_on_commit_callbacks):
    from projects.models import Subscriber
    from tests.factories import make_subscriber

    project = make_project(owner=client_account)
    make_subscriber(project=project, email="x@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        owner_api.delete(f"/api/v1/projects/{project.pk}/")
    assert not Subscriber.objects.filter(project=project).exists()
    assert Project.objects.get(pk=project.pk).deleted_at is not None


def test_prj1_project_list_runs_the_same_queries_for_1_and_50(client_account):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    on_pro(client_account)
    api = api_as(client_account)
    make_project(owner=client_account)
    api.get("/api/v1/me/")  # the key's first use is noted once; not part of what is compared
    with CaptureQueriesContext(connection) as one:
        assert len(api.get("/api/v1/projects/").json()["results"]) == 1
    for n in range(49):
        make_project(owner=client_account, name=f"P{n}")
    with CaptureQueriesContext(connection) as fifty:
        assert len(api.get("/api/v1/projects/").json()["results"]) == 50
    assert len(one) == len(fifty)
