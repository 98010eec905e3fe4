"""Production: every staff page needs two-factor authentication (ADMIN_REQUIRES_2FA, on in
production; config/admin.py checks it in has_permission). Staff without it are sent to set it up
from every list of the admin, superusers and the roles alike; with TOTP on, the lists open."""

from urllib.parse import unquote

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.models import Client

pytestmark = pytest.mark.django_db

SET_UP = "/accounts/2fa/totp/activate/"


def changelists() -> list[str]:
    return [reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist") for model in admin.site._registry]


def sent_to_set_up_2fa(response) -> bool:
    """Sent to the TOTP set-up page (which may first ask for the password again, to come back to
    it), and shown a page there: no admin page, no error."""
    hops = [unquote(where) for where, _ in response.redirect_chain]
    return response.status_code == 200 and SET_UP in hops and (hops[-1] == SET_UP or hops[-1].endswith(f"?next={SET_UP}"))


def test_acc2_staff_without_2fa_are_sent_to_set_it_up_from_every_admin_list(client, staff, settings):
    settings.ADMIN_REQUIRES_2FA = True
    client.force_login(staff)
    urls = changelists()
    assert len(urls) > 30  # the whole registry, not a few pages
    unguarded = {}
    for url in urls:
        first = client.get(url)
        followed = client.get(url, follow=True)
        if first.status_code != 302 or not sent_to_set_up_2fa(followed):
            unguarded[url] = (first.status_code, followed.redirect_chain)
    assert unguarded == {}

    TOTP.activate(staff, generate_totp_secret())
    assert {url: status for url in urls if (status := client.get(url).status_code) != 200} == {}


def test_acc2_a_role_member_without_2fa_is_sent_to_set_it_up_too(client, settings):
    """Not only superusers: a support member's lists are closed until TOTP is on."""
    settings.ADMIN_REQUIRES_2FA = True
    member = Client.objects.create_user(email="support-2fa@example.com", password="x-pass-12345", name="Support", is_staff=True)
    member.groups.add(Group.objects.get(name="support"))
    client.force_login(member)
    for url in ["/admin/accounts/client/", "/admin/billing/paymentattempt/", "/admin/compliance/auditlog/"]:
        response = client.get(url, follow=True)
        assert sent_to_set_up_2fa(response), (url, response.redirect_chain)

    TOTP.activate(member, generate_totp_secret())
    assert client.get("/admin/accounts/client/").status_code == 200
    assert client.get("/admin/billing/policysettings/").status_code == 403  # 2FA opens the console, not other roles' pages
