"""NTF-1: the client is told, once per event, by a notice the dashboard lists and an email (HTML
with a text part) sent after the change has committed, its links on SITE_URL."""

import pytest
from django.core import mail

from accounts import services as accounts
from accounts.models import Notice
from billing import services as billing
from tests.billing.conftest import verified
from tests.factories import make_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def payer(db, django_capture_on_commit_callbacks, settings):
    settings.SITE_URL = "https://app.example.com"
    client = verified("told@example.com")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        billing.attach_card(client=client, token="tok_visa", actor=client)
    return client


def test_ntf1_a_verified_card_is_told_once_by_email_with_html_and_text_and_on_the_dashboard(payer, client):
    [message] = mail.outbox
    assert message.to == ["told@example.com"] and "Your card is verified" in message.subject
    assert "Visa •••• 4242" in message.body or "4242" in message.body
    assert "https://app.example.com/" in message.body and "127.0.0.1" not in message.body
    html = message.alternatives[0][0]
    assert "<a href=\"https://app.example.com/\">" in html
    client.force_login(payer)
    assert "Your card is verified" in client.get("/").content.decode()


def test_ntf1_pro_activation_and_deactivation_are_told_with_the_date(payer, django_capture_on_commit_callbacks):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        billing.activate_pro(client=payer, period="monthly", actor=payer)
    assert [m.subject for m in mail.outbox][-1].endswith("PRO is active")
    with django_capture_on_commit_callbacks(execute=True):
        billing.deactivate_pro(client=payer, confirm=True, actor=payer)
    assert mail.outbox[-1].subject.endswith("PRO has ended") and "in your wallet" in mail.outbox[-1].body
    assert list(Notice.objects.filter(client=payer).values_list("kind", flat=True)) == ["deactivation_confirmed", "pro_activated", "card_verified"]


def test_ntf1_a_refused_change_tells_nothing(django_capture_on_commit_callbacks):
    from core.exceptions import RuleRefused

    unverified = make_client(email="silent@example.com")
    mail.outbox.clear()
    with pytest.raises(RuleRefused), django_capture_on_commit_callbacks(execute=True):
        billing.activate_pro(client=unverified, period="monthly", actor=unverified)
    assert mail.outbox == [] and not Notice.objects.filter(client=unverified).exists()


def test_ntf1_an_event_is_told_once_and_a_retried_send_sends_nothing_more(payer):
    notice = Notice.objects.get(client=payer)
    assert accounts.notify(client=payer, kind="card_verified", event=notice.event, subject="again", lines=["again"]) is None
    assert accounts.send_notice(notice.pk) is False
    assert len(mail.outbox) == 1
