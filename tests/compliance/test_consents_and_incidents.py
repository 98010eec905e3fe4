"""CMP-3 marketing consent, CMP-8 cookie consent, CMP-6 security incidents."""

import datetime

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from compliance.models import CookieConsent, Incident, MarketingConsent
from compliance.services import notify_incident
from tests.factories import api_as, make_client

pytestmark = pytest.mark.django_db


def test_cmp3_marketing_consent_is_separate_and_withdrawable_with_its_times(client_account):
    api = api_as(client_account)
    assert api.get("/api/v1/consents/marketing/").json() == {"given": False, "at": None}
    with time_machine.travel(datetime.datetime(2027, 1, 1, 9, tzinfo=datetime.UTC), tick=False):
        assert api.put("/api/v1/consents/marketing/", {"given": True}).json()["given"] is True
    with time_machine.travel(datetime.datetime(2027, 2, 1, 9, tzinfo=datetime.UTC), tick=False):
        body = api.put("/api/v1/consents/marketing/", {"given": False}).json()
    assert body["given"] is False and body["at"].startswith("2027-02-01")
    history = list(MarketingConsent.objects.filter(client=client_account).order_by("at").values_list("given", "at"))
    assert [given for given, _ in history] == [True, False] and history[0][1].month == 1
    with time_machine.travel(datetime.datetime(2027, 2, 2, 9, tzinfo=datetime.UTC), tick=False):  # (the key's rate limit saw 2027)
        api.put("/api/v1/consents/marketing/", {"given": False})
        assert MarketingConsent.objects.filter(client=client_account).count() == 2
        assert api.put("/api/v1/consents/marketing/", {}).status_code == 400


def test_cmp8_cookie_consent_by_category_is_remembered_and_changeable():
    visitor = APIClient()
    first = visitor.get("/api/v1/consents/cookies/")
    assert first.json() == {"essential": True, "preference": False, "analytics": False, "marketing": False}
    visitor.put("/api/v1/consents/cookies/", {"preference": True, "analytics": True, "marketing": False}, format="json")
    assert visitor.get("/api/v1/consents/cookies/").json() == {"essential": True, "preference": True, "analytics": True, "marketing": False}
    visitor.put("/api/v1/consents/cookies/", {"preference": True, "analytics": False, "marketing": False}, format="json")
    assert CookieConsent.objects.count() == 1 and CookieConsent.objects.get().analytics is False
    assert APIClient().get("/api/v1/consents/cookies/").json()["analytics"] is False  # another visitor
    assert visitor.put("/api/v1/consents/cookies/", {"analytics": "maybe"}, format="json").status_code == 400


def test_cmp6_the_admin_shows_incidents_near_and_past_72_hours_and_notifies_once(client, staff, mailbox, django_capture_on_commit_callbacks):
    affected = [make_client(email=f"victim{n}@example.com") for n in range(2)]
    now = timezone.now()
    past = Incident.objects.create(discovered_at=now - datetime.timedelta(hours=80), description="Leaked export link.")
    past.affected.set(affected)
    near = Incident.objects.create(discovered_at=now - datetime.timedelta(hours=60), description="Suspicious sign-ins.")
    Incident.objects.create(discovered_at=now - datetime.timedelta(hours=2), description="Fresh.")
    client.force_login(staff)
    assert [i.pk for i in client.get("/admin/compliance/incident/", {"notice": "past"}).context["cl"].result_list] == [past.pk]
    assert [i.pk for i in client.get("/admin/compliance/incident/", {"notice": "near"}).context["cl"].result_list] == [near.pk]
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/admin/compliance/incident/", {"action": "notify", "_selected_action": [past.pk], "post": "yes"})
    assert sorted(m.to[0] for m in mailbox) == ["victim0@example.com", "victim1@example.com"]
    past.refresh_from_db()
    assert past.notified_at is not None and past.notified_by == staff
    assert notify_incident(incident=past, actor=staff) == 0  # once
    assert list(client.get("/admin/compliance/incident/", {"notice": "past"}).context["cl"].result_list) == []
    assert past.notify_by == past.discovered_at + datetime.timedelta(hours=72)


def test_cmp8_a_made_up_cookie_id_reads_and_changes_nobody_elses_answer(client_account):
    """The old visitor id of a client was `client-<id>`: any caller could send it. A visitor's id is
    now only one we made (random, 32 characters); anything else gets a new one and reads nothing."""
    api_as(client_account).put("/api/v1/consents/cookies/", {"preference": True, "analytics": True, "marketing": True}, format="json")
    before = list(CookieConsent.objects.values_list("id", "visitor", "client_id", "preference", "analytics", "marketing"))
    for forged in (f"client-{client_account.pk}", "x", "a" * 500, "abc\x00def", "../../etc/passwd"):
        stranger = APIClient()
        stranger.cookies["cookie_consent_id"] = forged
        read = stranger.get("/api/v1/consents/cookies/")
        assert read.status_code == 200 and read.json() == {"essential": True, "preference": False, "analytics": False, "marketing": False}
        assert len(read.cookies["cookie_consent_id"].value) == 32 and read.cookies["cookie_consent_id"].value != forged
        assert list(CookieConsent.objects.values_list("id", "visitor", "client_id", "preference", "analytics", "marketing")) == before
    stranger = APIClient()
    stranger.cookies["cookie_consent_id"] = f"client-{client_account.pk}"
    stranger.put("/api/v1/consents/cookies/", {"preference": False, "analytics": False, "marketing": False}, format="json")
    mine = CookieConsent.objects.get(client=client_account)
    assert (mine.preference, mine.analytics, mine.marketing, mine.visitor) == (True, True, True, None)  # untouched
    assert CookieConsent.objects.get(client__isnull=True).visitor != f"client-{client_account.pk}"  # the stranger's own, new id


def test_cmp8_a_signed_in_clients_answer_is_its_accounts_by_session_and_by_key(client_account):
    browser = APIClient()
    browser.force_login(client_account)
    browser.cookies["cookie_consent_id"] = "A" * 32  # a visitor id from before signing in: not the account's
    browser.put("/api/v1/consents/cookies/", {"preference": True, "analytics": False, "marketing": True}, format="json")
    by_key = api_as(client_account).get("/api/v1/consents/cookies/")
    assert by_key.json() == {"essential": True, "preference": True, "analytics": False, "marketing": True}
    assert "cookie_consent_id" not in by_key.cookies  # an account's answer needs no visitor id
    anonymous = APIClient()
    anonymous.cookies["cookie_consent_id"] = "A" * 32
    assert anonymous.get("/api/v1/consents/cookies/").json()["preference"] is False  # the account's answer is not the cookie's
    other = make_client(email="other-cookies@example.com")
    assert api_as(other).get("/api/v1/consents/cookies/").json()["marketing"] is False
    assert CookieConsent.objects.filter(client=client_account).count() == 1


def test_cmp8_the_banner_asks_by_category_until_answered_and_keeps_the_answer(client):
    from compliance.models import CookieConsent

    assert b"Save my choice" in client.get("/accounts/login/").content
    answer = client.post("/cookies/", {"analytics": "on", "next": "/accounts/login/"})
    assert answer.status_code == 302 and answer["Location"] == "/accounts/login/"
    consent = CookieConsent.objects.get()
    assert (consent.preference, consent.analytics, consent.marketing, consent.client) == (False, True, False, None)
    assert client.cookies["cookie_consent_id"].value == consent.visitor
    assert b"Save my choice" not in client.get("/accounts/login/").content


def test_cmp8_a_forged_cookie_id_gets_the_banner_and_a_new_id_of_its_own(client):
    from compliance.models import CookieConsent

    client.post("/cookies/", {"marketing": "on"})
    client.cookies["cookie_consent_id"] = "client-1"
    assert b"Save my choice" in client.get("/accounts/login/").content
    client.post("/cookies/", {})
    assert CookieConsent.objects.count() == 2 and not CookieConsent.objects.filter(visitor="client-1").exists()


def test_cmp8_a_signed_in_clients_banner_answer_is_its_accounts_and_next_never_leaves_the_site(client, client_account):
    from compliance.models import CookieConsent

    client.force_login(client_account)
    assert b"Save my choice" in client.get("/").content
    answer = client.post("/cookies/", {"preference": "on", "next": "https://evil.example/"})
    assert answer["Location"] == "/"
    assert CookieConsent.objects.get(client=client_account).preference is True
    assert b"Save my choice" not in client.get("/").content
