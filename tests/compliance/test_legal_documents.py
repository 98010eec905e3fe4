"""CMP-1: publishing a new version emails every client once, and each sees it as not accepted
(on the dashboard and in the API) until it accepts."""

import pytest

from compliance.models import LegalAcceptance, LegalDocument, LegalNotice
from compliance.services import publish_document
from compliance.tasks import notify_document
from tests.factories import api_as, make_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def clients(db):
    return [make_client(email=f"reader{n}@example.com") for n in range(5)]


def test_cmp1_a_new_version_emails_every_client_once(clients, staff, mailbox, django_capture_on_commit_callbacks, monkeypatch):
    from compliance import services

    monkeypatch.setattr(services, "NOTICE_BATCH", 2)  # three batches for five clients
    with django_capture_on_commit_callbacks(execute=True):
        document = publish_document(kind="terms", version="2.0", title="Terms of Use", body="New terms.", actor=staff)
    assert sorted(m.to[0] for m in mailbox) == sorted(c.email for c in clients)
    assert all("Terms of Use 2.0" in m.subject for m in mailbox)
    mailbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        notify_document.delay(document.pk)  # a rerun
    assert mailbox == [] and LegalNotice.objects.filter(document=document).count() == 5


def test_cmp1_a_client_sees_the_new_version_as_not_accepted_until_it_accepts(clients, staff):
    publish_document(kind="terms", version="2.0", title="Terms of Use", body="New terms.", actor=staff)
    api = api_as(clients[0])
    documents = api.get("/api/v1/legal/documents/").json()["results"]
    terms = next(d for d in documents if d["kind"] == "terms")
    assert terms["version"] == "2.0" and terms["accepted"] is False
    privacy = next(d for d in documents if d["kind"] == "privacy")
    assert privacy["accepted"] is True  # accepted at registration
    response = api.post("/api/v1/legal/accept/", {"documents": [terms["id"]]}, format="json")
    assert response.status_code == 200
    assert next(d for d in response.json()["results"] if d["kind"] == "terms")["accepted"] is True
    acceptance = LegalAcceptance.objects.get(client=clients[0], document_id=terms["id"])
    assert acceptance.accepted_at is not None and acceptance.ip == "127.0.0.1"


def test_cmp1_accepting_an_unknown_or_old_version_is_400_and_changes_nothing(clients, staff):
    old = LegalDocument.objects.get(kind="terms", version="1.0")
    publish_document(kind="terms", version="2.0", title="Terms of Use", body="New terms.", actor=staff)
    api = api_as(clients[1])
    for ids in ([old.pk], [999999], []):
        assert api.post("/api/v1/legal/accept/", {"documents": ids}, format="json").status_code == 400
    assert not LegalAcceptance.objects.filter(client=clients[1], document__version="2.0").exists()


def test_cmp1_the_dashboard_shows_a_notice_until_accepted(client, clients, staff):
    publish_document(kind="privacy", version="1.1", title="Privacy Policy", body="Updated.", actor=staff)
    client.force_login(clients[2])
    page = client.get("/")
    assert b"New versions to accept" in page.content and b"Privacy Policy 1.1" in page.content
    client.post("/legal/accept/")
    assert b"New versions to accept" not in client.get("/").content


def test_cmp1_staff_publish_in_the_admin_and_cannot_edit_a_published_text(client, staff, clients, django_capture_on_commit_callbacks):
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/compliance/legaldocument/add/", {"kind": "cookies", "version": "1.0", "title": "Cookie Policy", "body": "Cookies.",
                                                                       "post": "yes"})
    assert response.status_code == 302
    document = LegalDocument.objects.get(kind="cookies")
    client.post(f"/admin/compliance/legaldocument/{document.pk}/change/", {"kind": "cookies", "version": "1.0", "title": "Changed", "body": "x"})
    document.refresh_from_db()
    assert document.title == "Cookie Policy"
    assert LegalNotice.objects.filter(document=document).count() == len(clients)


def test_cmp1_publishing_a_version_twice_is_refused(staff):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        publish_document(kind="terms", version="1.0", title="Terms", body="Again", actor=staff)
