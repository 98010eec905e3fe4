"""Production headers on every page (issue 17, item 6): HSTS, Django's own Content-Security-Policy,
frame denial, the referrer policy, nosniff and the opener policy, on a dashboard page, an API
route, the admin's sign-in and /health/; and `check --deploy` clean.

The production values are the settings module's own, read in a subprocess under
DJANGO_ENV=production, then applied here (override_settings) to the test's client."""

import json
import os
import re
import secrets
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from django.test import override_settings

from tests.factories import api_as

ROOT = Path(__file__).resolve().parents[2]
SECURITY_SETTINGS = [
    "SECURE_CSP", "SECURE_CSP_REPORT_ONLY", "CSP_PATH_OVERRIDES", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD", "SECURE_SSL_REDIRECT", "SECURE_PROXY_SSL_HEADER", "SECURE_REDIRECT_EXEMPT", "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE", "X_FRAME_OPTIONS", "SECURE_REFERRER_POLICY", "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_CROSS_ORIGIN_OPENER_POLICY",
]
HTTPS = {"secure": True, "HTTP_X_FORWARDED_PROTO": "https"}


def production_env(**extra: str) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in {"DJANGO_ENV", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "CSP_MODE"}}
    return {**base, "DJANGO_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(64), "ALLOWED_HOSTS": "platform.example.com", **extra}


@cache
def production_settings() -> dict:
    code = ("import json; from django.conf import settings; "
            f"print(json.dumps({{name: getattr(settings, name) for name in {SECURITY_SETTINGS!r}}}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**production_env(), "DJANGO_SETTINGS_MODULE": "config.settings"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    values = json.loads(done.stdout.strip().splitlines()[-1])
    values["SECURE_PROXY_SSL_HEADER"] = tuple(values["SECURE_PROXY_SSL_HEADER"])
    return values


@pytest.fixture
def production():
    with override_settings(**production_settings()):
        yield


def assert_production_headers(response, *, admin: bool = False, opener: str = "same-origin") -> None:
    headers = response.headers
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cross-Origin-Opener-Policy"] == opener
    assert "Content-Security-Policy-Report-Only" not in headers  # enforced, not only reported
    policy = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'self'"
    assert policy["object-src"] == "'none'" and policy["base-uri"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert policy["form-action"].startswith("'self'")
    scripts = policy["script-src"].split()
    assert scripts[0] == "'self'" and "'unsafe-inline'" not in scripts
    assert ("'unsafe-eval'" in scripts) == admin  # the staff console's Alpine.js only
    assert "'unsafe-inline'" not in policy["style-src"] or admin
    assert headers["X-Request-ID"]


@pytest.mark.django_db
def test_issue17_dashboard_page_has_the_production_headers(client, client_account, production):
    client.force_login(client_account)

    response = client.get("/", **HTTPS)

    assert response.status_code == 200
    assert_production_headers(response)
    # Every inline style and script carries the nonce the policy names (else it would not apply).
    html = response.content.decode()
    nonce = response.headers["Content-Security-Policy"].split("'nonce-", 1)[1].split("'", 1)[0]
    inline = [tag for tag in re.findall(r"<(?:style|script)\b[^>]*>", html) if "src=" not in tag]
    assert all(f'nonce="{nonce}"' in tag for tag in inline), inline
    assert not re.search(r"\son[a-z]+=", html)  # no inline handlers (onsubmit=…): the policy would block them


@pytest.mark.django_db
def test_issue17_api_route_has_the_production_headers(client_account, production):
    response = api_as(client_account).get("/api/v1/me/", **HTTPS)

    assert response.status_code == 200
    assert_production_headers(response)


@pytest.mark.django_db
def test_issue17_admin_sign_in_has_the_production_headers(client, production):
    response = client.get("/admin/login/", **HTTPS)

    assert response.status_code in (200, 302)
    assert_production_headers(response, admin=True)
    page = client.get("/accounts/login/", **HTTPS)
    assert page.status_code == 200
    assert_production_headers(page)


@pytest.mark.django_db
def test_issue17_api_docs_have_the_production_headers_and_a_nonced_init_script(client, production):
    response = client.get("/api/docs/", **HTTPS)

    assert response.status_code == 200
    # drf-spectacular opens the page's opener policy for Swagger UI's OAuth2 pop-up (its own choice).
    assert_production_headers(response, opener="unsafe-none")
    nonce = response.headers["Content-Security-Policy"].split("'nonce-", 1)[1].split("'", 1)[0]
    assert f'<script nonce="{nonce}">' in response.content.decode()  # Swagger UI's inline set-up


@pytest.mark.django_db
def test_issue17_health_has_the_production_headers_and_no_https_redirect(client, production):
    response = client.get("/health/", **HTTPS)
    assert response.status_code == 200
    assert_production_headers(response)

    # The load balancer's probe over plain HTTP is answered, where every page goes to HTTPS.
    assert client.get("/health/").status_code == 200
    assert client.get("/health/ready/").status_code == 200
    redirected = client.get("/accounts/login/")
    assert redirected.status_code == 301 and redirected["Location"].startswith("https://")


def test_issue17_development_reports_the_same_policy():
    """Development has the production policy in report-only: a violation shows in the browser's
    console before it can break a page in production (tests/browser/test_csp.py enforces it)."""
    from django.conf import settings

    if settings.PRODUCTION or settings.CSP_MODE != "report-only":
        pytest.skip("the development profile's CSP mode is overridden here")
    assert settings.SECURE_CSP_REPORT_ONLY == production_settings()["SECURE_CSP"]
    assert settings.SECURE_CSP == {}


def test_issue17_check_deploy_is_clean_in_production():
    done = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"], cwd=ROOT,
                          env=production_env(), capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout
    assert "WARNING" not in done.stdout + done.stderr
