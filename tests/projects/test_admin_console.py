"""The projects part of the staff console (issue 16): the industry review (PRJ-7, needs
`projects.review_project`) and the staff suspension (PRJ-2, needs `projects.suspend_project`)
each show a page naming the project, its owner and what happens first, ask a reason where one is
owed (a refusal, a suspension), and act only when confirmed, through the services (audited,
CMP-5), saying what was done in one sentence."""

import pytest
from django.contrib.auth.models import Permission

from compliance.models import AuditLog
from projects.audit_actions import Audit
from projects.models import Contact, Project, ProjectRestriction
from tests.factories import make_client, make_project, on_pro

pytestmark = pytest.mark.django_db

PROJECTS = "/admin/projects/project/"


@pytest.fixture
def staff_browser(client, staff):
    client.force_login(staff)
    return client


def staff_with(*perms: str):
    person = make_client(email=f"staff-{'-'.join(p.split('.')[1] for p in perms)[:60]}@example.com", name="Limited Staff")
    person.is_staff = True
    person.save()
    for dotted in perms:
        app_label, codename = dotted.split(".")
        person.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return person


def act(browser, action: str, pks: list, **data):
    return browser.post(PROJECTS, {"action": action, "_selected_action": pks, **data}, follow=True)


def sentences(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def offered(browser) -> set[str]:
    form = browser.get(PROJECTS).context["action_form"]
    return {name for name, _label in form.fields["action"].choices if name} if form is not None else set()


@pytest.fixture
def gambling(client_account):
    return make_project(owner=client_account, name="Lucky bot", industry="gambling")


def test_prj7_without_the_review_permission_clearing_is_not_offered_and_a_posted_one_changes_nothing(client, gambling):
    client.force_login(staff_with("projects.view_project", "projects.suspend_project"))
    assert {"clear_for_sending", "refuse_sending"}.isdisjoint(offered(client))
    act(client, "clear_for_sending", [gambling.pk], post="yes")
    gambling.refresh_from_db()
    assert gambling.review == "pending" and not gambling.may_send


def test_prj7_clearing_names_the_project_owner_and_industry_and_clears_only_when_confirmed(client, gambling):
    reviewer = staff_with("projects.view_project", "projects.review_project")
    client.force_login(reviewer)
    page = act(client, "clear_for_sending", [gambling.pk])
    text = page.content.decode()
    assert "Clear the industry for sending" in text and "Lucky bot" in text and "ada@example.com" in text and "Betting and gambling" in text
    assert "it may send again" in text
    gambling.refresh_from_db()
    assert gambling.review == "pending"
    done = act(client, "clear_for_sending", [gambling.pk], post="yes")
    gambling.refresh_from_db()
    assert gambling.review == "cleared" and gambling.reviewed_by == reviewer and gambling.may_send and gambling.status == "active"
    assert AuditLog.objects.filter(action=Audit.REVIEW_CLEARED, actor=reviewer, target_id=str(gambling.pk)).exists()
    assert sentences(done) == ["Cleared 1 project for sending: “Lucky bot”."]


def test_prj7_a_refusal_without_a_reason_changes_nothing_and_with_one_is_kept(staff_browser, staff, gambling):
    assert "Refuse sending for the industry" in act(staff_browser, "refuse_sending", [gambling.pk]).content.decode()
    again = act(staff_browser, "refuse_sending", [gambling.pk], post="yes", reason="")
    assert again.context["reason_form"].errors and b"errornote" in again.content
    gambling.refresh_from_db()
    assert gambling.review == "pending" and not AuditLog.objects.filter(action=Audit.REVIEW_REFUSED).exists()
    done = act(staff_browser, "refuse_sending", [gambling.pk], post="yes", reason="Casino offers to strangers.")
    gambling.refresh_from_db()
    assert gambling.review == "refused" and not gambling.may_send and gambling.status == "suspended"
    entry = AuditLog.objects.get(action=Audit.REVIEW_REFUSED, actor=staff, target_id=str(gambling.pk))
    assert entry.details["note"] == "Casino offers to strangers."
    assert sentences(done) == ["Refused sending to 1 project: “Lucky bot”."]


def test_prj2_without_the_suspend_permission_suspending_is_not_offered_and_changes_nothing(client, client_account):
    project = make_project(owner=client_account)
    client.force_login(staff_with("projects.view_project", "projects.review_project"))
    assert {"suspend_for_staff", "lift_staff_suspension"}.isdisjoint(offered(client))
    act(client, "suspend_for_staff", [project.pk], post="yes", reason="Abuse.")
    project.refresh_from_db()
    assert project.status == "active" and not ProjectRestriction.objects.filter(project=project, reason="staff").exists()


def test_prj2_suspending_asks_its_reason_names_the_owner_and_suspends_when_confirmed(client, client_account):
    project = make_project(owner=client_account, name="Shop bot")
    suspender = staff_with("projects.view_project", "projects.suspend_project")
    client.force_login(suspender)
    page = act(client, "suspend_for_staff", [project.pk])
    assert "Suspend projects for a staff reason" in page.content.decode() and "ada@example.com" in page.content.decode()
    missing = act(client, "suspend_for_staff", [project.pk], post="yes", reason=" ")
    assert missing.context["reason_form"].errors
    project.refresh_from_db()
    assert project.status == "active"
    done = act(client, "suspend_for_staff", [project.pk], post="yes", reason="Phishing links in the welcome block.")
    project.refresh_from_db()
    assert project.status == "suspended"
    restriction = ProjectRestriction.objects.get(project=project, reason="staff", lifted_at__isnull=True)
    assert (restriction.note, restriction.set_by) == ("Phishing links in the welcome block.", suspender)
    assert AuditLog.objects.filter(action=Audit.STAFF_SUSPENDED, actor=suspender, target_id=str(project.pk)).exists()
    assert sentences(done) == ["Suspended 1 project for a staff reason: “Shop bot”."]


def test_prj2_lifting_the_staff_suspension_says_which_other_reasons_stay(staff_browser, staff, client_account):
    on_pro(client_account)
    plain = make_project(owner=client_account, name="Plain")
    reviewed = make_project(owner=client_account, name="Reviewed", industry="gambling")
    act(staff_browser, "suspend_for_staff", [plain.pk, reviewed.pk], post="yes", reason="Checking.")
    page = act(staff_browser, "lift_staff_suspension", [plain.pk, reviewed.pk]).content.decode()
    assert "“Plain”" in page and "runs again" in page and "it stays suspended for Industry review (PRJ-7)" in page
    done = act(staff_browser, "lift_staff_suspension", [plain.pk, reviewed.pk], post="yes")
    assert Project.objects.get(pk=plain.pk).status == "active" and Project.objects.get(pk=reviewed.pk).status == "suspended"
    assert AuditLog.objects.filter(action=Audit.STAFF_SUSPENSION_LIFTED, actor=staff).count() == 2
    assert len(sentences(done)) == 1 and sentences(done)[0].startswith("Lifted the staff suspension of 2 projects")


def test_prj1_the_project_list_is_searched_filtered_and_titled(staff_browser, client_account, other_account):
    mine = make_project(owner=client_account, name="Ada's shop")
    theirs = make_project(owner=other_account, name="Bo's blog", industry="gambling")
    page = staff_browser.get(PROJECTS)
    assert "Ada&#x27;s shop" in page.content.decode() and "object (" not in page.content.decode()
    assert [p.pk for p in staff_browser.get(PROJECTS, {"q": "bo@example.com"}).context["cl"].result_list] == [theirs.pk]
    assert [p.pk for p in staff_browser.get(PROJECTS, {"q": str(mine.pk)}).context["cl"].result_list] == [mine.pk]
    assert [p.pk for p in staff_browser.get(PROJECTS, {"review__exact": "pending"}).context["cl"].result_list] == [theirs.pk]


def test_prj5_a_contact_without_name_email_or_phone_still_has_a_title():
    assert str(Contact(pk=7)) == "contact 7"
