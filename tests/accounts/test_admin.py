"""The staff console for clients (ACC-3, ACC-2, ACC-4) and the staff groups."""

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth.models import Group

from accounts import services
from accounts.models import AccessRecoveryRequest, Client
from compliance.models import AuditLog

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/accounts/client/"


@pytest.fixture
def staff_browser(client, staff):
    client.force_login(staff)
    return client


def test_acc3_admin_block_action_blocks_through_the_service(staff_browser, client_account, staff):
    response = staff_browser.post(
        CHANGELIST,
        {"action": "block_clients", "_selected_action": [client_account.pk], "post": "yes", "reason": "abuse", "until": "", "note": "spam"},
        follow=True,
    )
    assert response.status_code == 200
    client_account.refresh_from_db()
    assert client_account.status == "blocked" and client_account.block_reason == "abuse" and client_account.blocked_until is None
    assert AuditLog.objects.filter(action="account.blocked", actor=staff, client=client_account).exists()


def test_acc3_admin_block_without_reason_changes_nothing(staff_browser, client_account):
    response = staff_browser.post(CHANGELIST, {"action": "block_clients", "_selected_action": [client_account.pk], "reason": ""}, follow=True)
    assert b"Choose a block reason" in response.content
    client_account.refresh_from_db()
    assert client_account.status == "active"


def test_acc3_admin_unblock_action(staff_browser, client_account, staff):
    services.block(client=client_account, reason="staff")
    staff_browser.post(CHANGELIST, {"action": "unblock_clients", "_selected_action": [client_account.pk], "post": "yes", "note": "Settled with support."})
    client_account.refresh_from_db()
    assert client_account.status == "active"
    assert AuditLog.objects.filter(action="account.reactivated", actor=staff).exists()


def test_acc2_staff_turn_off_2fa_on_request(staff_browser, client_account, staff):
    TOTP.activate(client_account, generate_totp_secret())
    # Issue 16: the first click only asks, saying what happens and to whom.
    page = staff_browser.post(CHANGELIST, {"action": "turn_off_two_factor", "_selected_action": [client_account.pk]})
    assert page.status_code == 200
    assert "its sign-in asks only for the password" in page.content.decode()
    assert f"{client_account.email}" in page.content.decode()
    assert Authenticator.objects.filter(user=client_account).exists()
    # Confirmed without the request it answers: asked again, nothing removed.
    again = staff_browser.post(CHANGELIST, {"action": "turn_off_two_factor", "_selected_action": [client_account.pk], "post": "yes", "note": " "})
    assert "Give a reason (plain text)." in again.content.decode()
    assert Authenticator.objects.filter(user=client_account).exists()
    done = staff_browser.post(CHANGELIST, {"action": "turn_off_two_factor", "_selected_action": [client_account.pk], "post": "yes",
                                           "note": "Lost phone; asked by email from the address on file, ticket 41."}, follow=True)
    assert f"Turned off two-factor authentication of 1 client: {client_account.email}." in done.content.decode()
    assert not Authenticator.objects.filter(user=client_account).exists()
    entry = AuditLog.objects.get(action="account.2fa_disabled", actor=staff, client=client_account)
    assert entry.details["note"].startswith("Lost phone")


def test_admin_client_list_filters_and_search(staff_browser, client_account, other_account):
    services.block(client=other_account, reason="billing")
    assert staff_browser.get(CHANGELIST, {"q": "ada@"}).context["cl"].result_count == 1
    filtered = staff_browser.get(CHANGELIST, {"status__exact": "blocked"}).context["cl"]
    assert [c.email for c in filtered.result_list] == ["bo@example.com"]
    page = staff_browser.get(f"{CHANGELIST}{other_account.pk}/change/")
    assert page.status_code == 200 and b"state history" in page.content.lower()


def test_admin_state_fields_cannot_be_edited_on_the_form(staff_browser, client_account):
    form = staff_browser.get(f"{CHANGELIST}{client_account.pk}/change/").context["adminform"].form
    assert "status" not in form.fields and "tariff" not in form.fields and "block_reason" not in form.fields


def test_staff_groups_exist_with_their_permissions(db):
    support = Group.objects.get(name="support")
    assert support.permissions.filter(codename="block_client").exists()
    assert support.permissions.filter(codename="view_auditlog").exists()
    assert not Group.objects.get(name="billing").permissions.filter(codename="block_client").exists()
    assert Group.objects.get(name="compliance").permissions.filter(codename="add_legaldocument").exists()


def _staff_in(group: str, email: str) -> Client:
    member = Client.objects.create_user(email=email, password="x-pass-12345", name=group, is_staff=True)
    member.groups.add(Group.objects.get(name=group))
    return member


def test_support_may_block_and_billing_may_not(client, client_account):
    client.force_login(_staff_in("support", "support@example.com"))
    client.post(CHANGELIST, {"action": "block_clients", "_selected_action": [client_account.pk], "post": "yes", "reason": "abuse", "note": "Spam."})
    client_account.refresh_from_db()
    assert client_account.status == "blocked"

    services.unblock(client=client_account)
    client.force_login(_staff_in("billing", "billing@example.com"))
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert b"block_clients" not in page.content
    client.post(CHANGELIST, {"action": "block_clients", "_selected_action": [client_account.pk], "post": "yes", "reason": "abuse", "note": "Spam."})
    client_account.refresh_from_db()
    assert client_account.status == "active"


def test_acc4_recovery_request_by_api_then_staff_approve(api, mailbox, client_account, staff_browser, staff, django_capture_on_commit_callbacks):
    TOTP.activate(client_account, generate_totp_secret())
    response = api.post(
        "/api/v1/auth/access-recovery/",
        {"account_email": "ada@example.com", "contact_email": "ada.new@example.com", "proof": "Passport scan on request; last payment 12 USD"},
        format="json",
    )
    assert response.status_code == 202
    recovery = AccessRecoveryRequest.objects.get()
    assert recovery.client == client_account and recovery.status == "open"

    with django_capture_on_commit_callbacks(execute=True):
        staff_browser.post("/admin/accounts/accessrecoveryrequest/", {"action": "approve", "_selected_action": [recovery.pk]})

    recovery.refresh_from_db()
    client_account.refresh_from_db()
    assert recovery.status == "approved" and recovery.handled_by == staff
    assert client_account.email == "ada.new@example.com" and not client_account.email_verified
    assert not Authenticator.objects.filter(user=client_account).exists()
    assert mailbox[-1].to == ["ada.new@example.com"]
    assert "/accounts/password/reset/key/" in mailbox[-1].body
    assert AuditLog.objects.filter(action="access_recovery.approved", actor=staff).exists()


def test_acc4_a_decided_request_cannot_be_decided_again(client_account, staff):
    recovery = services.request_access_recovery(account_email="ada@example.com", contact_email="ada@example.com", proof="proof")
    services.refuse_access_recovery(recovery=recovery, actor=staff, note="not enough")
    from core.exceptions import RuleRefused

    with pytest.raises(RuleRefused) as refused:
        services.approve_access_recovery(recovery=recovery, actor=staff, base_url="http://testserver/")
    assert refused.value.code == "recovery_already_decided"
    recovery.refresh_from_db()
    assert recovery.status == "refused"


def test_acc4_recovery_without_proof_is_400_and_stores_nothing(api, db):
    response = api.post("/api/v1/auth/access-recovery/", {"account_email": "a@example.com", "contact_email": "b@example.com", "proof": ""}, format="json")
    assert response.status_code == 400
    assert not AccessRecoveryRequest.objects.exists()


def test_acc4_dashboard_recovery_form(client, client_account):
    assert client.get("/access-recovery/").status_code == 200
    response = client.post("/access-recovery/", {"account_email": "ada@example.com", "contact_email": "ada@else.example", "proof": "I can name my projects"})
    assert response.status_code == 200 and b"Request received" in response.content
    assert AccessRecoveryRequest.objects.get().client == client_account


def test_ntf1_staff_find_what_a_client_was_told_read_only_and_in_their_language(staff_browser, client_account):
    from accounts.models import Notice

    services.notify(client=client_account, kind=Notice.Kind.ACCOUNT_BLOCKED, event="t:1", subject="Your account is blocked", lines=["Because."])
    page = staff_browser.get("/admin/accounts/notice/", {"q": client_account.email}).content.decode()
    assert "Your account is blocked" in page and client_account.email in page
    notice = Notice.objects.get(client=client_account)
    assert staff_browser.post(f"/admin/accounts/notice/{notice.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Notice.objects.filter(pk=notice.pk).exists()
    ukrainian = staff_browser.get("/admin/accounts/notice/", headers={"accept-language": "uk"}).content.decode()
    assert 'lang="uk"' in ukrainian and "Обліковий запис заблоковано" in ukrainian  # the kind's label


def test_acc4_a_staff_accounts_access_is_restored_by_a_superuser_only(db, staff):
    """ACC-4: a support member approving a request for a staff account would hand the console to
    whoever wrote it: refused (403), the account's email and the request unchanged."""
    from core.exceptions import RuleRefused

    colleague = Client.objects.create_user(email="ops@example.com", password="ops-pass-12345", name="Ops", is_staff=True)
    support = Client.objects.create_user(email="support@example.com", password="support-pass-12345", name="Support", is_staff=True)
    recovery = services.request_access_recovery(account_email="ops@example.com", contact_email="attacker@example.org", proof="it is me, honest")
    with pytest.raises(RuleRefused) as refused:
        services.approve_access_recovery(recovery=recovery, actor=support, base_url="http://testserver/")
    assert (refused.value.code, refused.value.status) == ("recovery_staff_account", 403)
    colleague.refresh_from_db()
    recovery.refresh_from_db()
    assert colleague.email == "ops@example.com" and recovery.status == "open"
    services.approve_access_recovery(recovery=recovery, actor=staff, base_url="http://testserver/")  # a superuser may
    colleague.refresh_from_db()
    assert colleague.email == "attacker@example.org"
