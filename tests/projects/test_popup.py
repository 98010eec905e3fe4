"""PRJ-3: the public pop-up subscription form on a client's site."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from projects.models import Project, Subscriber
from tests.factories import make_project, make_subscriber

pytestmark = pytest.mark.django_db

URL = "/api/v1/public/subscribe/"


@pytest.fixture
def project(client_account):
    return make_project(owner=client_account)


def subscribe(project, **fields):
    body = {"public_key": project.public_key, "consent": True, **fields}
    return APIClient().post(URL, body, format="json")


def test_prj3_the_popup_subscribes_with_consent_time_and_source(project):
    response = subscribe(project, name="Zoe", email="Zoe@Example.org", page="https://shop.example/")
    assert response.status_code == 200 and response.json() == {"status": "subscribed"}
    assert response["Access-Control-Allow-Origin"] == "*"
    sub = Subscriber.objects.get(project=project)
    assert (sub.email, sub.source, sub.status) == ("zoe@example.org", "popup", "active")
    assert sub.consent_source == "Pop-up form on https://shop.example/" and sub.consent_at


@pytest.mark.parametrize("consent", [False, None])
def test_prj3_the_popup_needs_explicit_consent(project, consent):
    body = {"public_key": project.public_key, "email": "zoe@example.org"}
    if consent is not None:
        body["consent"] = consent
    response = APIClient().post(URL, body, format="json")
    assert response.status_code == 400 and "consent" in response.json()
    assert not Subscriber.objects.exists()


def test_prj3_an_unknown_public_key_is_404(project):
    response = APIClient().post(URL, {"public_key": "pk_nope", "email": "zoe@example.org", "consent": True}, format="json")
    assert response.status_code == 404 and not Subscriber.objects.exists()


def test_prj5_the_popup_refuses_role_and_invalid_addresses(project):
    assert subscribe(project, email="info@example.org").status_code == 400
    assert subscribe(project, email="zoe@").status_code == 400
    assert not Subscriber.objects.exists()


def test_prj3_subscribing_again_brings_back_who_left_and_keeps_one_row(project):
    sub = make_subscriber(project=project, email="zoe@example.org")
    from projects import services

    services.unsubscribe(subscriber=sub, actor=project.owner)
    assert subscribe(project, email="zoe@example.org").status_code == 200
    sub.refresh_from_db()
    assert sub.status == "active" and sub.unsubscribed_at is None and sub.consent_source.startswith("Pop-up form")
    assert subscribe(project, email="zoe@example.org").status_code == 200
    assert Subscriber.objects.filter(project=project).count() == 1


def test_prj2_an_archived_project_takes_no_subscribers(project):
    Project.objects.filter(pk=project.pk).update(status=Project.Status.ARCHIVED)
    response = subscribe(project, email="zoe@example.org")
    assert response.status_code == 409 and response.json()["code"] == "project_not_accepting"
    assert not Subscriber.objects.exists()


def test_prj3_the_popup_is_rate_limited_per_ip(project, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "popup": "3/min"}
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        codes = [subscribe(project, email=f"p{n}@example.org").status_code for n in range(5)]
        other_ip = APIClient(REMOTE_ADDR="10.9.9.9").post(
            URL, {"public_key": project.public_key, "email": "far@example.org", "consent": True}, format="json"
        )
    assert codes == [200, 200, 200, 429, 429]
    assert other_ip.status_code == 200
    assert Subscriber.objects.count() == 4
