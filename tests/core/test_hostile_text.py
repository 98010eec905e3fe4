"""Issue 17, item 1: text PostgreSQL cannot store (a NUL) or UTF-8 cannot encode (an unpaired
surrogate), wherever a request carries it — a body's field or key, an import's rows, a form, the
query, the path, a header, a cookie — is a 4xx that says where, and nothing is stored. Run on
PostgreSQL in CI, where a NUL that got through is a 500."""

import pytest
from rest_framework.test import APIClient

from billing.models import IdempotencyRecord
from compliance.models import CookieConsent
from projects import imports, services
from projects.models import Contact, Project, Subscriber
from tests.core.hostile import BAD_TEXT, NUL, as_json, assert_refused, nothing_stored, post_json
from tests.factories import api_as, make_client, make_project, on_pro

pytestmark = pytest.mark.django_db

ROW = {"name": "Ann Lee", "email": "ann@example.com", "phone": "+4915112345678"}


@pytest.fixture
def owner(client_account):
    return client_account


@pytest.fixture
def project(owner):
    return make_project(owner=owner)


@pytest.fixture
def api(owner):
    return api_as(owner)


@pytest.mark.parametrize("kind", BAD_TEXT)
def test_issue17_bad_text_in_a_body_field_is_400_naming_the_field(api, kind):
    with nothing_stored():
        response = post_json(api, "/api/v1/projects/", {"name": BAD_TEXT[kind], "industry": "other"})
    assert_refused(response, 400, '"name"', "NUL" if kind == "nul" else "surrogate")
    assert not Project.objects.exists()


@pytest.mark.parametrize("kind", BAD_TEXT)
def test_issue17_bad_text_in_a_key_no_field_reads_is_400(api, project, kind):
    """A DictField's keys are read by no CharField: the parser is what refuses them."""
    other = make_client(email="bo@example.com")
    with nothing_stored():
        response = post_json(api, f"/api/v1/projects/{project.pk}/members/", {"email": other.email, "access": {BAD_TEXT[kind]: "view"}})
    assert_refused(response, 400, '"access"')


@pytest.mark.parametrize("kind", BAD_TEXT)
@pytest.mark.parametrize("field", ["name", "email", "phone"])
def test_issue17_bad_text_in_an_import_row_is_400_and_imports_nothing(api, project, kind, field):
    rows = [dict(ROW, email=f"p{n}@example.com", phone="") for n in range(3)] + [dict(ROW, **{field: ROW[field] + BAD_TEXT[kind]})]
    book = services.create_address_book(project=project, actor=project.owner, name="Fair")
    with nothing_stored():
        subscribers = post_json(api, f"/api/v1/projects/{project.pk}/subscribers/import/", {"consent_confirmed": True, "subscribers": rows})
        contacts = post_json(api, f"/api/v1/projects/{project.pk}/address-books/{book.pk}/contacts/import/", {"consent_confirmed": True, "contacts": rows})
    assert_refused(subscribers, 400, f'"subscribers.3.{field}"')
    assert_refused(contacts, 400, f'"contacts.3.{field}"')


@pytest.mark.parametrize("kind", BAD_TEXT)
def test_issue17_the_import_service_refuses_such_a_row_from_any_source(project, kind):
    """A dashboard's CSV file reaches the import service without the API's parser: the service
    refuses the row itself (invalid_row) and imports the others."""
    rows = [dict(ROW), dict(ROW, name="Bo" + BAD_TEXT[kind], email="bo@example.com", phone="")]
    result = imports.import_subscribers(project=project, actor=project.owner, rows=rows, consent_confirmed=True)
    assert result.created == 1 and [(r["row"], r["reason"]) for r in result.rejected] == [(1, "invalid_row")]
    assert list(Subscriber.objects.filter(project=project).values_list("email", flat=True)) == ["ann@example.com"]


def test_issue17_an_address_longer_than_its_column_is_refused_in_an_import(project):
    """Django's validator takes addresses of up to 320 characters; the columns hold 254."""
    long_address = "a" * 63 + "@" + ".".join(["b" * 60] * 4) + ".com"
    assert 254 < len(long_address) <= 320
    result = imports.import_subscribers(project=project, actor=project.owner, rows=[dict(ROW, email=long_address, phone="")],
                                        consent_confirmed=True)
    assert result.created == 0 and result.rejected[0]["reason"] == "invalid_email"
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize("kind", BAD_TEXT)
def test_issue17_bad_text_without_credentials_is_400(project, kind):
    """The public pop-up form and registration take no key: the same refusal."""
    anonymous = APIClient()
    with nothing_stored():
        popup = post_json(anonymous, "/api/v1/public/subscribe/",
                          {"public_key": project.public_key, "name": BAD_TEXT[kind], "email": "x@example.com", "consent": True})
        register = post_json(anonymous, "/api/v1/auth/register/",
                             {"name": BAD_TEXT[kind], "email": "new@example.com", "password": "a-long-password-1", "accept_terms": True,
                              "age_confirmed": True})
    assert_refused(popup, 400, '"name"')
    assert_refused(register, 400, '"name"')


def test_issue17_a_nul_in_a_form_encoded_api_body_is_400(api):
    with nothing_stored():
        response = api.post("/api/v1/projects/", data="name=Shop%00bot&industry=other", content_type="application/x-www-form-urlencoded")
    assert_refused(response, 400, '"name"', "NUL")


def test_issue17_a_nul_in_the_query_is_400(api, project):
    response = api.get(f"/api/v1/projects/{project.pk}/subscribers/?email=a%00b@example.com")
    assert_refused(response, 400, "invalid_characters", "query parameter 'email'", "NUL")


@pytest.mark.parametrize(
    "path",
    ["/api/v1/billing/invoices/INV%00-1/pdf/", "/api/v1/projects/%00/", "/webhooks/telegram/tok%00en/"],
)
def test_issue17_a_nul_in_the_path_is_400(api, path):
    """The invoice number of the PDF's path, a webhook's token, a download's token: each is
    looked up as text, which PostgreSQL refuses with a NUL in it."""
    with nothing_stored():
        response = api.get(path) if not path.startswith("/webhooks/") else api.post(path, data="{}", content_type="application/json")
    assert_refused(response, 400, "invalid_characters", "path")


@pytest.mark.parametrize("path", ["/billing/invoices/INV%00-1/pdf/", "/privacy/download/a%00b/", "/legal/ter%00ms/"])
def test_issue17_a_nul_in_a_dashboard_path_is_a_plain_400(client, owner, path):
    client.force_login(owner)
    response = client.get(path)
    assert response.status_code == 400 and response["Content-Type"].startswith("text/plain")
    assert b"NUL" in response.content


def test_issue17_a_nul_in_the_idempotency_key_is_400_and_charges_nothing(owner):
    on_pro(owner)
    api = api_as(owner)
    with nothing_stored():
        nul = post_json(api, "/api/v1/billing/topup/", {"amount_cents": 1000}, HTTP_IDEMPOTENCY_KEY="key\x00one")
        control = post_json(api, "/api/v1/billing/topup/", {"amount_cents": 1000}, HTTP_IDEMPOTENCY_KEY="key\x01one")
        long = post_json(api, "/api/v1/billing/topup/", {"amount_cents": 1000}, HTTP_IDEMPOTENCY_KEY="k" * 256)
    assert_refused(nul, 400, "Idempotency-Key", "NUL")
    assert_refused(control, 400, "Idempotency-Key", "printable")
    assert_refused(long, 400, "Idempotency-Key", "255")
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize("header", ["Bearer ak_\x00_secret", "Bearer ak_abc\x00_secret", "Bearer \x00"])
def test_issue17_an_api_key_with_a_nul_is_400(header):
    response = APIClient().get("/api/v1/me/", HTTP_AUTHORIZATION=header)
    assert_refused(response, 400, "invalid_characters", "Authorization")


@pytest.mark.parametrize("key", ["ak_é_secret", "ak_" + "x" * 300 + "_secret", "ak_\x7f_secret"])
def test_issue17_an_api_key_no_key_looks_like_is_401(key):
    """Characters a header may carry (Latin-1) but no key of ours holds: the key is unknown."""
    response = APIClient().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert_refused(response, 401, "unknown or revoked")


def test_issue17_a_nul_in_any_header_is_400_before_it_reaches_the_audit_log(api):
    """The User-Agent is kept with audited actions: a NUL in it would fail the write."""
    with nothing_stored():
        response = post_json(api, "/api/v1/api-keys/", {"name": "ci"}, HTTP_USER_AGENT="curl\x00/8")
    assert_refused(response, 400, "User-Agent")


def test_issue17_a_consent_cookie_with_a_nul_is_dropped_and_a_new_id_given():
    """A cookie is the browser's own state: a broken one reads as absent (a 400 would lock the
    visitor out until it cleared its cookies). The answer is kept under a new id of ours."""
    visitor = APIClient()
    visitor.cookies["cookie_consent_id"] = '"\\000' + "a" * 31 + '"'  # a quoted cookie: \000 is a NUL once parsed
    response = post_json(visitor, "/api/v1/consents/cookies/", {"preference": True, "analytics": False, "marketing": False}, method="put")
    assert response.status_code == 200
    fresh = response.cookies["cookie_consent_id"].value
    assert len(fresh) == 32 and "\x00" not in fresh
    assert list(CookieConsent.objects.values_list("visitor", flat=True)) == [fresh]


def test_issue17_a_session_cookie_with_a_nul_reads_as_signed_out(client, owner):
    client.cookies["sessionid"] = '"\\000' + "s" * 31 + '"'
    assert_refused(client.get("/api/v1/me/"), 401)
    assert client.get("/projects/").status_code == 302  # to the sign-in page


def test_issue17_a_dashboard_form_with_a_nul_shows_the_error_and_stores_nothing(client, owner):
    """Django's form fields refuse a NUL themselves; the page says so and nothing is created."""
    client.force_login(owner)
    with nothing_stored():
        response = client.post("/projects/", data="name=Shop%00bot&industry=other", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200 and b"Null characters are not allowed" in response.content
    assert not Project.objects.exists()


def test_issue17_a_surrogate_cannot_reach_a_form_it_becomes_a_replacement_character(client, owner):
    """A form's bytes are decoded as UTF-8 with replacement: an encoded surrogate (ED A0 80) is
    three U+FFFD, which any column holds."""
    client.force_login(owner)
    client.post("/projects/", data="name=Shop%ED%A0%80bot&industry=other", content_type="application/x-www-form-urlencoded")
    assert list(Project.objects.values_list("name", flat=True)) == ["Shop\ufffd\ufffd\ufffdbot"]


def test_issue17_contacts_untouched_by_a_refused_import(api, project):
    """The refusal happens before the import locks or reads anything: an existing book keeps its rows."""
    book = services.create_address_book(project=project, actor=project.owner, name="Fair")
    imports.import_contacts(address_book=book, actor=project.owner, rows=[dict(ROW)], consent_confirmed=True)
    response = api.post(f"/api/v1/projects/{project.pk}/address-books/{book.pk}/contacts/import/",
                        data=as_json({"consent_confirmed": True, "contacts": [dict(ROW, name=NUL, email="c@example.com")]}),
                        content_type="application/json")
    assert response.status_code == 400
    assert list(Contact.objects.values_list("email", flat=True)) == ["ann@example.com"]
