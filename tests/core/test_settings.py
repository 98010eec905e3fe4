"""Settings from the environment; the production profile (issue 3, item 3)."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"DJANGO_ENV", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"}}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_under_production_settings():
    result = manage(
        "check", "--deploy", "--fail-level", "DEBUG",
        DJANGO_ENV="production", SECRET_KEY=secrets.token_urlsafe(64), ALLOWED_HOSTS="platform.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_without_secret_key_stops_with_a_clear_message():
    result = manage("check", DJANGO_ENV="production", ALLOWED_HOSTS="platform.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_unknown_django_env_is_refused():
    result = manage("check", DJANGO_ENV="staging")
    assert result.returncode != 0
    assert "DJANGO_ENV must be" in result.stderr


@pytest.mark.django_db
def test_admin_requires_staff_2fa_when_configured(client, staff, settings):
    settings.ADMIN_REQUIRES_2FA = True
    client.force_login(staff)

    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/2fa/totp/activate/" or "/accounts/reauthenticate/" in response.redirect_chain[-1][0]
    assert client.get("/admin/accounts/client/").status_code == 302

    TOTP.activate(staff, generate_totp_secret())
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_admin_sign_in_goes_through_the_account_pages(client):
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/")
    assert response.status_code == 200
