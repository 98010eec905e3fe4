"""Issue 17, item 1: requests no client should send, answered without a 500 on every route — a
browser's `Accept: text/html` (the API speaks JSON only and answers it with JSON), `OPTIONS`, a
body method without its trailing slash (308, never APPEND_SLASH's 500), JSON nested 100,000 deep
and a body past the size limit (400, 413) — and in development (DEBUG) no error page under /api/
that shows the URL patterns, the process environment or a traceback."""

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from accounts.models import ApiKey
from projects.models import Project
from tests.core.hostile import assert_refused, nothing_stored, post_json
from tests.factories import api_as, key_for, make_project, make_subscriber

pytestmark = pytest.mark.django_db

JSON_PATHS = ("/api/", "/webhooks/")
HTML_PAGES = ("/api/docs/", "/api/schema/")  # Swagger UI and the OpenAPI document: in their own formats
BINARY = re.compile(r"/pdf/$")


def routes(resolver=None, prefix="") -> list[str]:
    """Every path pattern of the site, as written in the URL configuration."""
    found = []
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            found += routes(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            found.append(prefix + str(entry.pattern))
    return found


@pytest.fixture
def site(client_account):
    """A client's project with a subscriber, an address book and a key: ids for every route."""
    from projects import services

    project = make_project(owner=client_account)
    subscriber = make_subscriber(project=project, email="s@example.com")
    book = services.create_address_book(project=project, actor=client_account, name="Fair")
    key_for(client_account)
    return {
        "project_id": project.pk, "subscriber_id": subscriber.pk, "book_id": book.pk, "id": ApiKey.objects.first().pk,
        "pk": ApiKey.objects.first().pk, "token": project.telegram_webhook_path.rstrip("/").rsplit("/", 1)[1], "kind": "terms",
        "number": "INV-1", "member_id": 1, "funnel_id": 1, "broadcast_id": 1,
    }


def concrete(route: str, ids: dict) -> str:
    path = re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: str(ids.get(m.group(2), 1)), route)
    path = re.sub(r"[\^$]|\\Z", "", path)  # re_path patterns (the admin's)
    return "/" + path


def every_path(ids) -> list[str]:
    paths = []
    for route in routes():
        if "(?P<" in route or "(?:" in route:  # the admin's regex routes: its own tests cover them
            continue
        paths.append(concrete(route, ids))
    return sorted(set(paths))


def check_answer(response, path: str, method: str) -> None:
    assert response.status_code < 500, (method, path, response.status_code, response.content[:300])
    if path.startswith(JSON_PATHS) and not path.startswith(HTML_PAGES) and response.status_code != 204:
        kind = response.get("Content-Type", "")
        if not (BINARY.search(path) and response.status_code == 200) and response.status_code not in (301, 302, 308):
            assert kind.startswith("application/json"), (method, path, response.status_code, kind)


def test_issue17_options_and_accept_html_on_every_route_never_500(client_account, site):
    """Enumerated from the URL configuration: a new route is checked without being named here."""
    keyed = api_as(client_account)
    browser = Client()
    browser.force_login(client_account)
    callers = {"key": keyed, "browser": browser, "anonymous": Client()}
    paths = every_path(site)
    assert "/api/v1/projects/{}/subscribers/".format(site["project_id"]) in paths and "/projects/" in paths
    for path in paths:
        # The staff console's pages only redirect anyone else to its sign-in: checked once each.
        for name, caller in callers.items() if not path.startswith("/admin/") else [("anonymous", callers["anonymous"])]:
            check_answer(caller.options(path), path, f"OPTIONS as {name}")
            check_answer(caller.get(path, HTTP_ACCEPT="text/html"), path, f"GET text/html as {name}")


def test_issue17_every_method_of_every_api_route_with_accept_html_never_500(client_account, site):
    keyed = api_as(client_account)
    anonymous = APIClient()
    api_paths = [p for p in every_path(site) if p.startswith(JSON_PATHS)]
    for method in ("post", "put", "patch", "delete"):
        for path in api_paths:
            for caller in (anonymous, keyed):
                response = getattr(caller, method)(path, data="{}", content_type="application/json", HTTP_ACCEPT="text/html")
                check_answer(response, path, method)


def test_issue17_the_api_answers_a_browser_with_json(client_account):
    """The browsable API is off; a browser's Accept: text/html reads the same JSON, not a 406."""
    response = api_as(client_account).get("/api/v1/me/", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.json()["email"] == client_account.email
    xml = api_as(client_account).get("/api/v1/me/", HTTP_ACCEPT="application/xml")
    assert xml.status_code == 200 and xml["Content-Type"] == "application/json"


@pytest.mark.parametrize("debug", [False, True], ids=["production", "development"])
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_issue17_a_body_method_without_its_trailing_slash_is_308_to_it(client_account, settings, debug, method):
    """Django's APPEND_SLASH cannot redirect a POST without losing its body: in development it
    raises (a 500). 308 keeps the method and the body; clients follow it."""
    settings.DEBUG = debug
    api = api_as(client_account)
    with nothing_stored():
        response = getattr(api, method)("/api/v1/projects?source=cli", data='{"name": "Shop"}', content_type="application/json")
    body = assert_refused(response, 308, "trailing_slash", "/api/v1/projects/?source=cli")
    assert response["Location"] == "/api/v1/projects/?source=cli" and method.upper() in body["detail"]
    assert not Project.objects.exists()


def test_issue17_the_308_is_followed_to_the_same_request(client_account):
    response = api_as(client_account).post("/api/v1/projects", data='{"name": "Shop"}', content_type="application/json", follow=True)
    assert response.status_code == 201 and list(Project.objects.values_list("name", flat=True)) == ["Shop"]


def test_issue17_a_dashboard_post_without_its_slash_is_308_too_and_an_unknown_path_404(client, client_account, settings):
    settings.DEBUG = True
    client.force_login(client_account)
    response = client.post("/projects", {"name": "Shop", "industry": "other"})
    assert response.status_code == 308 and response["Location"] == "/projects/"
    assert_refused(APIClient().post("/api/v1/no-such-thing", data="{}", content_type="application/json"), 404)
    assert not Project.objects.exists()


@pytest.mark.parametrize("body", ["[" * 100_000 + "]" * 100_000, '{"a": ' * 100_000 + "1" + "}" * 100_000], ids=["list", "object"])
def test_issue17_json_nested_100000_deep_is_400(client_account, body):
    api = api_as(client_account)
    with nothing_stored():
        keyed = api.post("/api/v1/projects/", data=body, content_type="application/json")
        anonymous = APIClient().post("/api/v1/auth/register/", data=body, content_type="application/json")
    assert_refused(keyed, 400, "JSON parse error")
    assert_refused(anonymous, 400, "JSON parse error")


def test_issue17_json_deeper_than_the_limit_is_400_saying_so(client_account):
    body = '{"name": "Shop", "x": ' + "[" * 40 + "]" * 40 + "}"
    api = api_as(client_account)
    with nothing_stored():
        response = api.post("/api/v1/projects/", data=body, content_type="application/json")
    assert_refused(response, 400, "nested deeper than 32 levels")


def test_issue17_a_body_past_the_limit_is_413(client_account, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    big = post_json(APIClient(), "/api/v1/auth/register/", {"name": "x" * 20_000, "email": "n@example.com", "password": "a-long-password-1"})
    keyed = api_as(client_account)
    with nothing_stored():
        form = keyed.post("/api/v1/projects/", data="name=" + "x" * 20_000, content_type="application/x-www-form-urlencoded")
        json_body = post_json(keyed, "/api/v1/projects/", {"name": "x" * 20_000})
    assert_refused(big, 413, "body_too_large", "10,000 bytes")
    assert_refused(form, 413, "body_too_large")
    assert_refused(json_body, 413, "body_too_large")
    assert post_json(keyed, "/api/v1/projects/", {"name": "Shop"}).status_code == 201  # under the limit, as before


@pytest.mark.urls("tests.core.boom_urls")
def test_issue17_in_development_an_api_error_is_json_without_the_technical_page(client_account, settings):
    settings.DEBUG = True
    caller = APIClient(raise_request_exception=False)
    crash = caller.get("/api/v1/boom/")
    missing = caller.get("/api/v1/no-such-thing/")
    assert_refused(crash, 500, "server_error")
    assert_refused(missing, 404, "not_found")
    for response in (crash, missing):
        text = response.content.decode()
        assert "kaboom" not in text and "Traceback" not in text and "urlpatterns" not in text and "api/v1/me/" not in text


@pytest.mark.urls("tests.core.boom_urls")
def test_issue17_the_development_500_page_hides_the_environment_and_addresses_with_passwords(client, settings):
    """The dashboard's paths keep Django's technical page in development, filtered: under
    runserver the request's META holds the whole process environment."""
    settings.DEBUG = True
    settings.CELERY_BROKER_URL = "redis://:broker-hunter2@redis:6379/0"
    client.raise_request_exception = False
    page = client.get("/boom/", DATABASE_URL="postgres://app:db-hunter2@db/app", EMAIL_URL="smtp://u:mail-hunter2@smtp:587")
    assert page.status_code == 500 and b"kaboom" in page.content  # the developer still sees the error
    for secret in (b"broker-hunter2", b"db-hunter2", b"mail-hunter2"):
        assert secret not in page.content
