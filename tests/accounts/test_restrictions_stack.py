"""ACC-3 and PRJ-2: restrictions stack. An account holds several at once, each with its reason,
start and end, each lifted on its own, its state derived from those that hold; a project is
suspended while any of its reasons holds. DUN-4 lifts only the billing ones, PRO activation only
`free_limit`, staff what they choose."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from django.utils.formats import date_format

from accounts import services as accounts
from accounts.models import AccountStateChange, Client, Restriction
from billing import services as billing
from compliance.models import AuditLog
from compliance.services import decide_complaint
from projects import services as projects
from projects.models import Project, ProjectRestriction
from tests.billing.conftest import balance, verified
from tests.billing.nights import D, failing_pro, run_night
from tests.factories import api_as, make_client, make_project, make_subscriber

pytestmark = pytest.mark.django_db
SPAM = {"identification": "Eve Example, eve@example.org", "description": "Messages after I sent stop.", "period_start": "2027-03-01",
        "period_end": "2027-03-05", "kind": "spam"}


def reasons(client) -> list[tuple[str, str]]:
    return sorted(Restriction.objects.filter(client=client, lifted_at__isnull=True).values_list("kind", "reason"))


def project_reasons(project) -> list[str]:
    return sorted(ProjectRestriction.objects.filter(project=project, lifted_at__isnull=True).values_list("reason", flat=True))


def test_acc3_an_abuse_block_survives_a_billing_block_and_the_payment_of_the_debt(staff, django_capture_on_commit_callbacks):
    client = failing_pro()
    accounts.block(client=client, reason="abuse", actor=staff, note="phishing links")
    run_night(D(2027, 7, 2))  # first failed collection: suspended (DUN-2), beside the block
    run_night(D(2027, 7, 3))  # second: blocked for billing too (DUN-3)
    assert reasons(client) == [("block", "abuse"), ("block", "billing"), ("suspension", "billing")]
    assert {r["reason"] for r in api_as(client).get("/api/v1/me/").json()["restrictions"]} == {"abuse", "billing"}

    with django_capture_on_commit_callbacks(execute=True):
        assert api_as(client).put("/api/v1/billing/card/", {"token": "tok_visa"}).status_code == 200  # DUN-4: the debt is paid

    client.refresh_from_db()
    assert balance(client) >= 0
    assert reasons(client) == [("block", "abuse")]
    assert (client.status, client.block_reason, client.blocked_until) == ("blocked", "abuse", None)
    me = api_as(client).get("/api/v1/me/").json()
    assert (me["status"], me["block_reason"]) == ("blocked", "abuse")
    assert [(r["kind"], r["reason"], r["until"]) for r in me["restrictions"]] == [("block", "abuse", None)]
    # The projects' dunning reasons are lifted; the owner's abuse block still keeps them from changing.
    project = Project.objects.get(owner=client)
    assert project_reasons(project) == [] and project.status == "active"
    assert api_as(client).patch(f"/api/v1/projects/{project.pk}/", {"name": "x"}, format="json").status_code == 403


def test_acc3_a_billing_block_after_an_abuse_block_does_not_replace_it_and_staff_lift_only_what_they_choose(client_account, staff):
    accounts.block(client=client_account, reason="abuse", actor=staff)
    accounts.block(client=client_account, reason="billing")
    accounts.block(client=client_account, reason="staff", actor=staff, until=timezone.now() + timedelta(days=3))

    accounts.unblock(client=client_account, reason="staff", actor=staff, note="appeal on the staff block")

    client_account.refresh_from_db()
    assert reasons(client_account) == [("block", "abuse"), ("block", "billing")]
    assert client_account.status == "blocked"
    lifted = Restriction.objects.get(client=client_account, reason="staff")
    assert (lifted.lifted_by, lifted.lift_note) == (staff, "appeal on the staff block")
    assert AuditLog.objects.filter(action="account.restriction_lifted", client=client_account, actor=staff).count() == 1
    assert AuditLog.objects.filter(action="account.restricted", client=client_account).count() == 3


def test_acc3_me_shows_the_block_that_ends_last_and_lists_every_restriction(client_account):
    now = timezone.now()
    accounts.suspend(client=client_account)
    accounts.block(client=client_account, reason="funnel_loop", until=now + timedelta(days=1))
    accounts.block(client=client_account, reason="abuse", until=now + timedelta(days=7))

    me = api_as(client_account).get("/api/v1/me/").json()

    assert (me["status"], me["block_reason"]) == ("blocked", "abuse")
    assert me["blocked_until"].startswith((now + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"))
    assert [(r["kind"], r["reason"]) for r in me["restrictions"]] == [("block", "abuse"), ("block", "funnel_loop"), ("suspension", "billing")]
    assert {"since", "until"} <= set(me["restrictions"][0])


def test_acc3_a_timed_block_running_out_leaves_the_suspension(client_account):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        accounts.suspend(client=client_account)
        accounts.block(client=client_account, reason="funnel_loop", until=start + timedelta(days=1))
        assert Client.objects.get(pk=client_account.pk).status == "blocked"
        traveller.shift(timedelta(days=1, seconds=1))
        assert api_as(client_account).get("/api/v1/me/").json()["status"] == "suspended"  # before the task runs, too

        assert accounts.lift_expired_blocks() == 1

    client_account.refresh_from_db()
    assert client_account.status == "suspended"
    assert reasons(client_account) == [("suspension", "billing")]
    assert list(AccountStateChange.objects.filter(client=client_account).order_by("created_at", "id").values_list("to_status", flat=True)) == [
        "suspended", "blocked", "suspended"]


def test_acc3_blocking_again_for_the_same_reason_moves_its_end_and_keeps_one_restriction(client_account):
    now = timezone.now()
    accounts.block(client=client_account, reason="staff", until=now + timedelta(days=1))
    accounts.block(client=client_account, reason="staff", until=now + timedelta(days=5))
    assert Restriction.objects.filter(client=client_account).count() == 1
    client_account.refresh_from_db()
    assert client_account.blocked_until == now + timedelta(days=5) or client_account.blocked_until > now + timedelta(days=4)
    assert AuditLog.objects.filter(action="account.restriction_changed", client=client_account).count() == 1


def test_acc3_pro_activation_lifts_free_limit_and_leaves_an_abuse_block(staff):
    payer = verified("payer@example.com")
    billing.attach_card(client=payer, token="tok_visa", actor=payer)
    accounts.block(client=payer, reason="free_limit")
    accounts.block(client=payer, reason="abuse", actor=staff)

    billing.activate_pro(client=payer, period="monthly", actor=payer)

    payer.refresh_from_db()
    assert payer.tariff == "pro"
    assert reasons(payer) == [("block", "abuse")] and payer.status == "blocked"


def test_acc3_a_deleted_account_cannot_be_restricted_and_nothing_is_written(client_account):
    accounts.close_account(client=client_account, actor=None, note="t")
    before = (Restriction.objects.count(), AuditLog.objects.count(), AccountStateChange.objects.count())
    from core.exceptions import RuleRefused

    with pytest.raises(RuleRefused):
        accounts.block(client=client_account, reason="abuse")
    assert (Restriction.objects.count(), AuditLog.objects.count(), AccountStateChange.objects.count()) == before


# --- projects (PRJ-2) ----------------------------------------------------------------------------


def test_cmp4_a_spam_complaint_suspension_survives_paying_the_debt(other_account, staff, django_capture_on_commit_callbacks):
    client = failing_pro()
    project = Project.objects.get(owner=client)
    make_subscriber(project=project, email="eve@example.org")  # the complainant: the suspension is at once
    run_night(D(2027, 7, 2))  # DUN-2: the project is suspended for dunning
    complaint = api_as(other_account).post("/api/v1/complaints/", {**SPAM, "project": project.pk}, format="json")
    assert complaint.status_code == 201
    assert project_reasons(project) == ["complaint", "dunning"]

    with django_capture_on_commit_callbacks(execute=True):
        assert api_as(client).put("/api/v1/billing/card/", {"token": "tok_visa"}).status_code == 200

    project.refresh_from_db()
    client.refresh_from_db()
    assert client.status == "active"
    assert project_reasons(project) == ["complaint"] and project.status == "suspended"
    assert api_as(client).get(f"/api/v1/projects/{project.pk}/").json()["suspended_for"] == ["complaint"]

    from compliance.models import Complaint

    mail.outbox.clear()
    decide_complaint(complaint=Complaint.objects.get(pk=complaint.json()["id"]), upheld=False, answer="Not spam.", actor=staff)
    project.refresh_from_db()
    assert project.status == "active" and project_reasons(project) == []


def test_prj2_two_complaints_each_lifted_on_its_own(client_account, other_account, staff):
    from compliance.models import Complaint

    project = make_project(owner=client_account)
    make_subscriber(project=project, email="eve@example.org")
    first = api_as(other_account).post("/api/v1/complaints/", {**SPAM, "project": project.pk}, format="json").json()["id"]
    second = api_as(other_account).post("/api/v1/complaints/", {**SPAM, "project": project.pk}, format="json").json()["id"]
    decide_complaint(complaint=Complaint.objects.get(pk=first), upheld=False, answer="No.", actor=staff)
    project.refresh_from_db()
    assert project.status == "suspended"
    decide_complaint(complaint=Complaint.objects.get(pk=second), upheld=False, answer="No.", actor=staff)
    project.refresh_from_db()
    assert project.status == "active"


def test_prj7_a_project_waiting_for_review_is_suspended_for_it_and_dunning_does_not_clear_it(staff):
    client = failing_pro("review@example.com")
    reviewed = projects.create_project(owner=client, name="Vitamins", industry="supplements")
    assert reviewed.status == "suspended" and project_reasons(reviewed) == ["industry_review"]
    run_night(D(2027, 7, 2))
    assert project_reasons(reviewed) == ["dunning", "industry_review"]
    billing.attach_card(client=client, token="tok_visa", role="backup")  # pays the debt (DUN-4)
    reviewed.refresh_from_db()
    assert reviewed.status == "suspended" and project_reasons(reviewed) == ["industry_review"]

    projects.review_project(project=reviewed, actor=staff, cleared=True)

    reviewed.refresh_from_db()
    assert reviewed.status == "active" and reviewed.may_send
    assert AuditLog.objects.filter(action="projects.active", client=client).exists()


def test_prj2_a_locked_project_under_a_complaint_is_suspended_once_the_lock_is_lifted(other_account, staff):
    client = failing_pro("locked@example.com")
    project = Project.objects.get(owner=client)
    make_subscriber(project=project, email="eve@example.org")
    run_night(D(2027, 7, 2))
    run_night(D(2027, 7, 3))
    api_as(other_account).post("/api/v1/complaints/", {**SPAM, "project": project.pk}, format="json")
    project.refresh_from_db()
    assert project.status == "locked"  # the lock is the strongest
    billing.attach_card(client=client, token="tok_visa", role="backup")
    project.refresh_from_db()
    assert project.status == "suspended" and project_reasons(project) == ["complaint"]


def test_prj2_projects_restored_from_archive_keep_their_reasons(staff):
    owner = make_client(email="restored@example.com")
    project = projects.create_project(owner=owner, name="Tobacco", industry="tobacco")
    projects.archive_owner_projects(owner=owner)
    project.refresh_from_db()
    assert project.status == "archived"
    projects.restore_owner_projects(owner=owner)
    project.refresh_from_db()
    assert project.status == "suspended" and project_reasons(project) == ["industry_review"]


def test_prj2_staff_suspend_with_a_reason_and_lift_only_their_own(client_account, staff):
    from django.core.exceptions import ValidationError

    project = projects.create_project(owner=client_account, name="Wine", industry="alcohol")  # waits for review too
    with pytest.raises(ValidationError):
        projects.suspend_for_staff(project_ids=[project.pk], actor=staff, note=" ")
    assert project_reasons(project) == ["industry_review"]
    assert projects.suspend_for_staff(project_ids=[project.pk], actor=staff, note="phishing reported") == [project.pk]
    projects.review_project(project=project, actor=staff, cleared=True)
    project.refresh_from_db()
    assert project.status == "suspended" and project_reasons(project) == ["staff"]
    assert projects.lift_staff_suspension(project_ids=[project.pk], actor=staff, note="resolved") == [project.pk]
    project.refresh_from_db()
    assert project.status == "active"
    assert AuditLog.objects.filter(action="project.staff_suspended", actor=staff, client=client_account).exists()


def test_acc3_the_admin_lifts_only_the_block_reason_chosen(client, staff, client_account):
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(Permission.objects.get(codename="block_client"))
    accounts.block(client=client_account, reason="abuse", actor=staff)
    accounts.block(client=client_account, reason="billing")
    client.force_login(staff)
    response = client.post("/admin/accounts/client/", {"action": "unblock_clients", "_selected_action": [client_account.pk], "post": "yes",
                                                        "reason": "billing", "note": "paid by bank transfer"}, follow=True)
    assert response.status_code == 200
    assert reasons(client_account) == [("block", "abuse")]
    page = client.get(f"/admin/accounts/client/{client_account.pk}/change/")
    assert page.status_code == 200 and "paid by bank transfer" in page.content.decode()


def test_acc3_the_dashboard_says_why_and_until_when_and_refuses_a_new_key_with_the_rules_sentence(client, client_account, staff):
    until = timezone.now() + timedelta(days=2)
    accounts.block(client=client_account, reason="funnel_loop", until=until)
    accounts.block(client=client_account, reason="abuse", actor=staff)
    accounts.suspend(client=client_account)
    client.force_login(client_account)

    page = client.get("/account/").content.decode()

    assert "Blocked: funnel loop" in page and "Blocked: abuse" in page and "Until our staff lift it" in page
    local = timezone.localtime(until)
    assert f"Until {date_format(local, 'DATE_FORMAT')}, {local:%H:%M}." in page and "Suspended for unpaid fees" in page
    assert "Blocked: abuse" in client.get("/").content.decode()  # the overview too
    keys = client_account.api_keys.count()
    answer = client.post("/api-keys/", {"name": "new"}, follow=True).content.decode()
    assert "Your account is blocked, so no API key can be created." in answer
    assert client_account.api_keys.count() == keys
