"""ACC-2 sign-in: token by email and password, lockout, remember me, TOTP two-factor."""

from datetime import timedelta

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)
from django.conf import settings
from django.utils import timezone

from accounts.models import ApiKey
from compliance.models import AuditLog
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"


def totp_now(secret: str) -> str:
    counter = int(timezone.now().timestamp()) // 30
    return format_hotp_value(hotp_value(secret, counter))


def test_acc2_token_for_right_password_is_a_key_named_token(api, client_account):
    response = api.post(TOKEN, {"email": "ADA@example.com", "password": PASSWORD}, format="json")

    assert response.status_code == 200
    token = response.json()["token"]
    assert ApiKey.objects.get(client=client_account).name == "token"
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    me = api.get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["email"] == "ada@example.com"


def test_acc2_wrong_password_answers_401_and_makes_no_key(api, client_account):
    response = api.post(TOKEN, {"email": "ada@example.com", "password": "wrong-password"}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert not ApiKey.objects.exists()


def test_acc2_unknown_email_answers_401(api, db):
    response = api.post(TOKEN, {"email": "nobody@example.com", "password": "whatever-password"}, format="json")
    assert response.status_code == 401


def test_acc2_token_with_missing_fields_answers_400(api, db):
    response = api.post(TOKEN, {"email": "ada@example.com"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()


def test_acc2_lockout_after_repeated_failures_refuses_even_the_right_password(api, client_account):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        assert api.post(TOKEN, {"email": "ada@example.com", "password": "wrong-password"}, format="json").status_code in (401, 429)

    response = api.post(TOKEN, {"email": "ada@example.com", "password": PASSWORD}, format="json")

    assert response.status_code == 429
    assert response.json()["code"] == "sign_in_locked"
    assert 0 < int(response["Retry-After"]) <= settings.LOGIN_LOCKOUT_SECONDS + 1
    assert not ApiKey.objects.exists()
    assert AuditLog.objects.filter(action="account.sign_in_locked", client=client_account).exists()


def test_acc2_lockout_ends_after_its_window(api, client_account):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(settings.LOGIN_FAILURE_LIMIT):
            api.post(TOKEN, {"email": "ada@example.com", "password": "wrong-password"}, format="json")
        assert api.post(TOKEN, {"email": "ada@example.com", "password": PASSWORD}, format="json").status_code == 429
        traveller.shift(timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS + 2))
        # locmem and Redis expire on their own clocks; the lock's own end time is what we check.
        from accounts import services

        assert services.sign_in_lockout_remaining(email="ada@example.com") == 0


def test_acc2_dashboard_sign_in_is_locked_out_too(client, client_account):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        client.post("/accounts/login/", {"login": "ada@example.com", "password": "wrong-password"})

    response = client.post("/accounts/login/", {"login": "ada@example.com", "password": PASSWORD})

    assert response.status_code == 200
    assert b"Too many failed sign-ins" in response.content
    assert "_auth_user_id" not in client.session


def test_acc2_remember_me_keeps_a_persistent_session(client, client_account):
    client.post("/accounts/login/", {"login": "ada@example.com", "password": PASSWORD, "remember": "on"})
    assert client.session["_auth_user_id"] == str(client_account.pk)
    assert client.session.get_expire_at_browser_close() is False
    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE


def test_acc2_without_remember_me_the_session_ends_with_the_browser(client, client_account):
    client.post("/accounts/login/", {"login": "ada@example.com", "password": PASSWORD})
    assert client.session["_auth_user_id"] == str(client_account.pk)
    assert client.session.get_expire_at_browser_close() is True


@pytest.fixture
def with_totp(client_account):
    secret = generate_totp_secret()
    TOTP.activate(client_account, secret)
    RecoveryCodes.activate(client_account)
    return secret


def test_acc2_token_with_2fa_on_needs_the_code(api, client_account, with_totp):
    response = api.post(TOKEN, {"email": "ada@example.com", "password": PASSWORD}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "otp_required"

    response = api.post(TOKEN, {"email": "ada@example.com", "password": PASSWORD, "otp": "000000"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "otp_invalid"
    assert not ApiKey.objects.exists()

    response = api.post(TOKEN, {"email": "ada@example.com", "password": PASSWORD, "otp": totp_now(with_totp)}, format="json")
    assert response.status_code == 200


def test_acc2_recovery_code_works_once(api, client_account, with_totp):
    codes = RecoveryCodes(Authenticator.objects.get(user=client_account, type=Authenticator.Type.RECOVERY_CODES)).get_unused_codes()
    body = {"email": "ada@example.com", "password": PASSWORD, "otp": codes[0]}

    assert api.post(TOKEN, body, format="json").status_code == 200
    assert api.post(TOKEN, body, format="json").status_code == 401


def test_acc2_client_turns_2fa_on_and_off_in_the_dashboard(client, client_account, django_capture_on_commit_callbacks):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.filter(user=client_account).update(verified=True)  # allauth asks this first
    client.post("/accounts/login/", {"login": "ada@example.com", "password": PASSWORD})
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})  # allauth asks again for 2FA changes
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    secret = client.session["mfa.totp.secret"]

    with django_capture_on_commit_callbacks(execute=True):
        client.post("/accounts/2fa/totp/activate/", {"code": totp_now(secret)})

    assert Authenticator.objects.filter(user=client_account, type=Authenticator.Type.TOTP).exists()
    assert AuditLog.objects.filter(action="account.2fa_enabled", client=client_account).exists()

    with django_capture_on_commit_callbacks(execute=True):
        client.post("/accounts/2fa/totp/deactivate/")
    assert not Authenticator.objects.filter(user=client_account, type=Authenticator.Type.TOTP).exists()
    assert AuditLog.objects.filter(action="account.2fa_removed", client=client_account).exists()
