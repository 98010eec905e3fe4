"""The production Content-Security-Policy, enforced, breaks nothing (issue 17, item 6): the dashboard,
the staff console (django-unfold, Alpine.js) and Swagger UI load in Chromium with no violation;
the confirmation dialogs that were inline `onsubmit` code still ask, from our own script."""

import pytest

from accounts.models import ApiKey, Client
from accounts.services import mark_email_verified, sign_in_key
from compliance.models import LegalDocument
from compliance.services import publish_document
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, make_client, make_project

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

# Every violation the page reports, enforced or not, kept where the test can read it. Playwright's
# init script is its own, outside the page's policy.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.disposition} ${e.effectiveDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber} ${e.sample}`);
});
"""


@pytest.fixture(autouse=True)
def documents(transactional_db):
    for kind in (LegalDocument.Kind.TERMS, LegalDocument.Kind.PRIVACY):
        publish_document(kind=kind, version="1", title=kind.label, body="The text.")


@pytest.fixture(autouse=True)
def production_policy(settings):
    """The production policy, enforced (development only reports it)."""
    settings.SECURE_CSP = settings.CONTENT_SECURITY_POLICY
    settings.SECURE_CSP_REPORT_ONLY = {}


@pytest.fixture
def csp(visits):
    visits.page.add_init_script(RECORD_VIOLATIONS)

    def open_clean(path: str, ready: str | None = None, axe: bool = True):
        page = visits.open(path) if axe else visits.page
        if not axe:  # (a page whose accessibility is not this test's subject)
            page.goto(visits.base_url + path)
        if ready:
            page.wait_for_selector(ready)
        assert "Content-Security-Policy" in visits.last_headers(path), path  # enforced
        assert page.evaluate("window.__csp") == [], path
        return page

    return open_clean


@pytest.fixture
def visits(visits):
    """The browser conftest's page, plus the headers of the last answer to each path."""
    headers = {}
    visits.page.on("response", lambda r: headers.__setitem__(r.url.removeprefix(visits.base_url).split("?")[0], r.headers))
    visits.last_headers = lambda path: {k.title(): v for k, v in headers.get(path, {}).items()}
    return visits


def verified(email: str) -> Client:
    client = make_client(email=email)
    mark_email_verified(client=client, email=client.email)
    client.refresh_from_db()
    return client


def test_issue17_dashboard_pages_load_under_the_enforced_policy(visits, csp):
    owner = verified("csp-owner@example.com")
    project = make_project(owner=owner)
    sign_in(visits, owner.email, PASSWORD)

    for path in ("/", "/billing/", "/account/", "/privacy/", "/projects/", f"/projects/{project.pk}/",
                 f"/projects/{project.pk}/funnels/new/", f"/projects/{project.pk}/broadcasts/", f"/projects/{project.pk}/bot/"):
        csp(path)
    # The page's own style applied (the nonce works): the header bar is white, not the default.
    assert visits.page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor") == "rgb(255, 255, 255)"


def test_issue17_confirmation_dialogs_still_ask_without_inline_code(visits, csp):
    owner = verified("csp-keys@example.com")
    sign_in_key(client=owner, name="deploy script", actor=owner)
    sign_in(visits, owner.email, PASSWORD)
    page = csp("/account/")
    questions = []

    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.click("form[data-confirm] button:has-text('Revoke')")
    page.wait_for_timeout(300)
    assert questions == ["Revoke deploy script? Programs using it stop working."]
    assert ApiKey.objects.get(name="deploy script").revoked_at is None  # dismissed: nothing sent

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("form[data-confirm] button:has-text('Revoke')")
    page.wait_for_load_state()
    assert ApiKey.objects.get(name="deploy script").revoked_at is not None
    assert page.evaluate("window.__csp") == []


def test_issue17_staff_console_loads_under_its_policy(visits, csp):
    staff = Client.objects.create_superuser(email="csp-staff@example.com", password=PASSWORD, name="CSP Staff")
    mark_email_verified(client=staff, email=staff.email)
    client = verified("csp-client@example.com")
    sign_in(visits, staff.email, PASSWORD)

    page = csp("/admin/")
    assert "'unsafe-eval'" in visits.last_headers("/admin/")["Content-Security-Policy"]
    csp("/admin/accounts/client/")
    csp("/admin/billing/nightlyrun/")
    # Django's own permission widgets there fail axe-core: the policy is what this test reads.
    page = csp(f"/admin/accounts/client/{client.pk}/change/", axe=False)
    # Alpine.js runs (the theme's sidebar search is one of its components).
    assert page.evaluate("typeof window.Alpine") == "object"


def test_issue17_swagger_ui_loads_under_the_enforced_policy(visits, csp):
    # (drf-spectacular's page has no lang attribute, for axe-core: not this test's subject.)
    csp("/api/docs/", ready=".swagger-ui .info", axe=False)
    assert visits.page.locator(".opblock").count() > 10  # the operations rendered from /api/schema/
    assert visits.page.evaluate("window.__csp") == []
