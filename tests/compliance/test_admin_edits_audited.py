"""CMP-5: every staff edit in the admin is audited, change forms included, not only actions. The
test walks every admin change form that has a field to edit, saves a change through the page as
staff do, and finds the audit entry; the sensitive ones (staff access, a client's email, a key's
limit, an incident's discovery time) go through services that log the values before and after."""

import datetime

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.utils import timezone

from accounts.models import AccessRecoveryRequest, ApiKey, Client
from billing.models import PeriodChangeRequest
from compliance.models import AuditLog, Complaint, Holiday, Incident, PrivacyRequest
from tests.factories import make_client
from tests.snapshot import changed_tables, database_state

pytestmark = pytest.mark.django_db


def _group(client):
    from django.contrib.auth.models import Group

    return Group.objects.create(name="walkers"), "name", "walkers-renamed"


def _email_address(client):
    from allauth.account.models import EmailAddress

    return EmailAddress.objects.get(user=client), "verified", True


def _social_app(client):
    from allauth.socialaccount.models import SocialApp

    return SocialApp.objects.create(provider="google", name="Google", client_id="id-1", secret="s"), "name", "Google sign-in"


def _social_account(client):
    from allauth.socialaccount.models import SocialAccount

    return SocialAccount.objects.create(user=client, provider="google", uid="g-1", extra_data={"name": "W"}), "uid", "g-2"


def _holiday(client):
    holiday = Holiday.objects.first() or Holiday.objects.create(date=datetime.date(2031, 1, 1), name="New Year")
    return holiday, "name", "Renamed by staff"


def _complaint(client):
    complaint = Complaint.objects.create(identification="Eve", description="x", period_start=datetime.date(2027, 1, 1),
                                         period_end=datetime.date(2027, 1, 2), due_at=datetime.date(2027, 2, 1))
    return complaint, "answer", "We looked into it."


def _privacy_request(client):
    return PrivacyRequest.objects.create(client=client, kind="access", due_at=datetime.date(2027, 2, 1)), "staff_note", "Sent by post."


def _incident(client):
    incident = Incident.objects.create(discovered_at=timezone.now() - datetime.timedelta(hours=3), description="Leak")
    return incident, "discovered_at", timezone.now() - datetime.timedelta(hours=30)


def _client(client):
    return client, "email", "renamed.by.staff@example.com"


def _api_key(client):
    from accounts import services

    key, _ = services.create_api_key(client=client, name="crm", actor=client)
    return key, "rate_limit_per_minute", 60


def _recovery(client):
    return AccessRecoveryRequest.objects.create(account_email=client.email, contact_email="c@example.com", proof="id"), "staff_note", "Called back."


def _period_change(client):
    return PeriodChangeRequest.objects.create(client=client, from_period="yearly", to_period="monthly"), "staff_note", "Asked twice."


# Every admin whose change form has a field staff can edit, with a row and a change to make.
CHANGE_FORMS = {
    "auth.Group": _group, "account.EmailAddress": _email_address, "socialaccount.SocialApp": _social_app,
    "socialaccount.SocialAccount": _social_account, "compliance.Holiday": _holiday, "compliance.Complaint": _complaint,
    "compliance.PrivacyRequest": _privacy_request, "compliance.Incident": _incident, "accounts.Client": _client,
    "accounts.ApiKey": _api_key, "accounts.AccessRecoveryRequest": _recovery, "billing.PeriodChangeRequest": _period_change,
}


def editable_change_forms() -> set[str]:
    request = RequestFactory().get("/")
    request.user = Client(is_staff=True, is_superuser=True, is_active=True)
    found = set()
    for model, model_admin in admin.site._registry.items():
        obj = model()
        if not model_admin.has_change_permission(request, obj):
            continue
        readonly = set(model_admin.get_readonly_fields(request, obj))
        fields = [f for f in model_admin.get_fields(request, obj) if f not in readonly]
        if fields:
            found.add(model._meta.label)
    return found


def test_cmp5_the_walk_covers_every_admin_change_form_with_an_editable_field():
    assert editable_change_forms() == set(CHANGE_FORMS)


def form_data(response) -> dict:
    """What the browser would send back for the page as rendered: every field of the form and of
    its inlines, with their current values."""
    data = {}

    def add(form):
        for name in form.fields:
            value = form[name].value()
            key = form.add_prefix(name)
            if isinstance(value, (list, tuple)):
                data[key] = [str(v) for v in value]
            elif value is True:
                data[key] = "on"
            elif value is False:
                pass  # an unticked box is not sent
            elif value is None:
                data[key] = ""
            elif isinstance(value, datetime.datetime):
                local = timezone.localtime(value)
                data[f"{key}_0"], data[f"{key}_1"] = local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S")
            else:
                data[key] = str(value)

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        add(formset.management_form)
        for form in formset.forms:
            add(form)
    return data


def set_value(data: dict, field: str, value) -> None:
    if isinstance(value, datetime.datetime):
        local = timezone.localtime(value)
        data[f"{field}_0"], data[f"{field}_1"] = local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S")
    elif value is True:
        data[field] = "on"
    else:
        data[field] = str(value)


@pytest.mark.parametrize("label", sorted(CHANGE_FORMS))
def test_cmp5_saving_each_admin_change_form_leaves_an_audit_entry(client, staff, label):
    owner = make_client(email="walked@example.com")
    obj, field, value = CHANGE_FORMS[label](owner)
    app_label, model_name = label.lower().split(".")
    url = f"/admin/{app_label}/{model_name}/{obj.pk}/change/"
    client.force_login(staff)
    page = client.get(url)
    assert page.status_code == 200
    data = form_data(page)
    set_value(data, field, value)
    before = AuditLog.objects.count()

    response = client.post(url, {**data, "post": "yes"})  # confirmed, where a form asks first (a holiday moves deadlines)

    assert response.status_code == 302, (response.context["adminform"].form.errors if response.context else response.content[:500])
    entry = AuditLog.objects.filter(action="admin.changed", actor=staff, target_id=str(obj.pk)).get()
    assert field in str(entry.details["change"]) or field.replace("_", " ") in str(entry.details["change"]).lower()
    assert AuditLog.objects.count() > before


def test_cmp5_making_someone_staff_in_the_admin_is_audited_with_before_and_after(client, staff):
    from django.contrib.auth.models import Group

    member = make_client(email="new.staff@example.com")
    support = Group.objects.get_or_create(name="support")[0]
    client.force_login(staff)
    url = f"/admin/accounts/client/{member.pk}/change/"
    data = form_data(client.get(url))
    data["is_staff"] = "on"
    data["groups"] = [str(support.pk)]
    assert client.post(url, data).status_code == 302
    access = AuditLog.objects.get(action="account.staff_access_changed", client=member)
    assert access.actor == staff and access.details["is_staff"] == {"from": False, "to": True}
    roles = AuditLog.objects.get(action="account.staff_roles_changed", client=member)
    assert roles.details["groups_added"] == ["support"]


def test_cmp5_a_clients_email_changed_by_staff_is_audited_and_must_be_verified_again(client, staff):
    from allauth.account.models import EmailAddress

    member = make_client(email="old.address@example.com")
    Client.objects.filter(pk=member.pk).update(email_verified_at=timezone.now())
    client.force_login(staff)
    url = f"/admin/accounts/client/{member.pk}/change/"
    data = form_data(client.get(url))
    data["email"] = "New.Address@Example.com"
    assert client.post(url, data).status_code == 302
    member.refresh_from_db()
    assert member.email == "new.address@example.com" and member.email_verified_at is None
    assert EmailAddress.objects.get(user=member).email == "new.address@example.com"
    entry = AuditLog.objects.get(action="account.email_changed", client=member)
    assert entry.details["from"] == "old.address@example.com" and entry.details["to"] == "new.address@example.com"


def test_cmp5_an_api_keys_limit_out_of_bounds_is_refused_on_the_form_and_nothing_changes(client, staff):
    owner = make_client(email="limited@example.com")
    key, _, _ = _api_key(owner)
    client.force_login(staff)
    url = f"/admin/accounts/apikey/{key.pk}/change/"
    data = form_data(client.get(url))
    data["rate_limit_per_minute"] = "1000000000"
    before = database_state()
    response = client.post(url, data)
    assert response.status_code == 200 and "rate_limit_per_minute" in response.context["adminform"].form.errors
    assert changed_tables(before, database_state()) == []
    data["rate_limit_per_minute"] = "60"
    assert client.post(url, data).status_code == 302
    assert ApiKey.objects.get(pk=key.pk).rate_limit_per_minute == 60
    assert AuditLog.objects.get(action="api_key.limit_changed").details == {"from": 180, "to": 60}


def test_cmp5_cmp6_an_incidents_discovery_time_moved_by_staff_is_audited_with_its_new_deadline(client, staff):
    incident, _, earlier = _incident(None)
    client.force_login(staff)
    url = f"/admin/compliance/incident/{incident.pk}/change/"
    data = form_data(client.get(url))
    set_value(data, "discovered_at", timezone.now() + datetime.timedelta(days=1))
    before = database_state()
    refused = client.post(url, data)
    assert refused.status_code == 200 and "discovered_at" in refused.context["adminform"].form.errors  # not in the future
    assert changed_tables(before, database_state()) == []
    set_value(data, "discovered_at", earlier)
    assert client.post(url, data).status_code == 302
    entry = AuditLog.objects.get(action="incident.changed")
    assert entry.actor == staff and set(entry.details) == {"discovered_at", "notify_by"}
    assert entry.details["discovered_at"]["to"][:16] == earlier.replace(microsecond=0).isoformat()[:16]


def test_cmp5_the_second_factors_secret_is_not_shown_or_editable_in_the_admin(client, staff):
    from allauth.mfa.models import Authenticator

    owner = make_client(email="factor@example.com")
    factor = Authenticator.objects.create(user=owner, type=Authenticator.Type.TOTP, data={"secret": "SEKRETSEED"})
    client.force_login(staff)
    page = client.get(f"/admin/mfa/authenticator/{factor.pk}/change/")
    assert page.status_code == 200 and "SEKRETSEED" not in page.content.decode()
    assert client.post(f"/admin/mfa/authenticator/{factor.pk}/change/", {"type": "recovery_codes"}).status_code == 403
