"""Browser tests: Playwright driving Debian's Chromium (headless, by its executable path) against
the live server. Each test fails on a console error, a failed request or an error answer, runs
axe-core on every page it visits (no serious or critical violation), and leaves a screenshot in
`test-artifacts/` when it fails."""

import os
import re
from pathlib import Path

import pytest
from django.db import connections

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE = {"width": 390, "height": 844}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def browser(monkeypatch):
    """Chromium for one test. Playwright's sync API keeps an event loop running in this thread
    while it is started, which Django takes for async code: the ORM calls the test makes between
    its steps are allowed for the test's length only, and the loop is gone before the next test."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is missing at {CHROMIUM}: `make test` installs it.")
        pytest.skip(f"Chromium is missing at {CHROMIUM}: `make test` installs it.")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield launched
        launched.close()
        # The test's own database connections live in the loop's context (Django keeps them per
        # context): closed while they are reachable, or they outlive the test session and its
        # test database cannot be dropped.
        connections.close_all()


class Visits:
    """A page that counts every problem the browser reports, and checks each page it opens."""

    def __init__(self, page, base_url: str):
        self.page, self.base_url, self.problems, self.downloads = page, base_url, [], set()
        page.on("download", lambda download: self.downloads.add(download.url))
        # A report-only CSP violation (development's policy) comes as "info": a problem too (issue 17).
        page.on("console", lambda message: self.problems.append(f"console {message.type}: {message.text}")
                if message.type == "error" or "Content Security Policy" in message.text else None)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} {r.failure}"))
        page.on("response", lambda r: self.problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    def open(self, path: str):
        self.page.goto(self.base_url + path)
        self.check()
        return self.page

    def check(self) -> None:
        """axe-core on the page as it stands: no serious or critical violation; and no sideways
        scroll, whatever the width."""
        from axe_playwright_python.sync_playwright import Axe

        results = Axe().run(self.page)
        serious = [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
                   for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
        assert serious == [], f"{self.page.url}: {serious}"
        wider = self.page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
        assert not wider, f"{self.page.url} scrolls sideways at {self.page.viewport_size['width']} px"


@pytest.fixture
def visits(browser, live_server, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    visiting = Visits(page, live_server.url)
    yield visiting
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', request.node.name)}.png"), full_page=True)
    context.close()
    # A link that downloads (an invoice's PDF) ends its navigation as "aborted": that is no failure.
    problems = [p for p in visiting.problems if not any(p == f"request failed: {url} net::ERR_ABORTED" for url in visiting.downloads)]
    assert problems == [], problems


def sign_in(visits, email: str, password: str) -> None:
    page = visits.open("/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
