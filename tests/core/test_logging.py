"""Structured logs (issue 17, item 6): one JSON line a request with its request id and the client
it acted as; the night's chunk on the night's lines; never a secret, card token or bot token."""

import datetime
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from billing.night import Night, process
from billing.night import apply as night_apply
from billing.subscriptions.renewals import Written
from core.logging import JsonFormatter, RedactSecrets, RequestContext, TextFormatter, redact
from core.request_context import log_context
from tests.factories import api_as, key_for

ROOT = Path(__file__).resolve().parents[2]
BOT_TOKEN = "7123456789:AAHf3kQ-bz_9xYvLw2pN8sRtU1mE4cJ0dGq"  # <bot id>:<35 characters>
API_KEY = "ak_0123456789_Zx8v-Qw3rT5yU7iO9pA1sD3fG5hJ7kL9zX1cV3bN5m"
CARD_TOKEN = "tok_chargeCustomerFail"


@pytest.fixture
def lines():
    """What the console handler of settings.LOGGING would print, as JSON: the same filters and
    formatter, into a buffer. Returns a function giving the parsed lines so far."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestContext())
    handler.addFilter(RedactSecrets())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def test_issue17_settings_wire_the_filters_on_the_console_handler(settings):
    handler = settings.LOGGING["handlers"]["console"]
    assert handler["filters"] == ["context", "redact"]
    assert settings.LOGGING["filters"]["redact"] == {"()": "core.logging.RedactSecrets"}
    assert settings.LOGGING["loggers"]["django"]["handlers"] == []  # Django's lines through ours only
    assert handler["formatter"] == ("json" if settings.PRODUCTION else "text")


@pytest.mark.django_db
def test_issue17_an_api_request_logs_one_json_line_with_request_id_and_client_id(client_account, lines):
    api = api_as(client_account)

    response = api.get("/api/v1/me/")

    assert response.status_code == 200
    access = [line for line in lines() if line["logger"] == "core.request"]
    assert len(access) == 1, access
    line = access[0]
    assert line["request_id"] == response["X-Request-ID"] and len(line["request_id"]) == 32
    assert line["client_id"] == client_account.pk
    assert (line["method"], line["path"], line["route"], line["status"]) == ("GET", "/api/v1/me/", "api/v1/me/", 200)
    assert line["level"] == "INFO" and "time" in line and isinstance(line["duration_ms"], float)


@pytest.mark.django_db
def test_issue17_dashboard_request_logs_the_signed_in_client(client, client_account, lines):
    client.force_login(client_account)

    response = client.get("/")

    assert response.status_code == 200
    (line,) = [line for line in lines() if line["logger"] == "core.request"]
    assert line["client_id"] == client_account.pk and line["request_id"] == response["X-Request-ID"]


@pytest.mark.django_db
def test_issue17_anonymous_request_logs_no_client(client, lines):
    response = client.get("/accounts/login/")

    (line,) = [line for line in lines() if line["logger"] == "core.request"]
    assert line["client_id"] is None and line["status"] == response.status_code == 200


@pytest.mark.django_db
def test_issue17_lines_written_during_a_request_carry_its_id(client_account, lines, monkeypatch):
    from accounts import api as accounts_api

    original = accounts_api.MeApi.get

    def get(self, request, *args, **kwargs):
        logging.getLogger("accounts.test").warning("reading the account")
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(accounts_api.MeApi, "get", get)
    response = api_as(client_account).get("/api/v1/me/", HTTP_X_REQUEST_ID="lb-6f1c2a9e-0001")

    (line,) = [line for line in lines() if line["logger"] == "accounts.test"]
    assert line["request_id"] == "lb-6f1c2a9e-0001" == response["X-Request-ID"]  # the proxy's own id kept
    assert line["client_id"] == client_account.pk


@pytest.mark.django_db
@pytest.mark.parametrize("incoming", ["short", "x" * 129, "has space in it", "new\nline-injected-0001", "ünïcode-000001"])
def test_issue17_malformed_incoming_request_id_is_replaced(client, incoming):
    response = client.get("/accounts/login/", HTTP_X_REQUEST_ID=incoming)

    assert response["X-Request-ID"] != incoming
    assert len(response["X-Request-ID"]) == 32 and response["X-Request-ID"].isalnum()


@pytest.mark.django_db
def test_issue17_redirects_and_errors_have_a_request_id_too(client):
    assert client.get("/api/v1/me/")["X-Request-ID"]  # 401
    assert client.get("/no-such-page/")["X-Request-ID"]  # 404


def test_issue17_bot_token_card_token_and_api_key_are_redacted(lines):
    log = logging.getLogger("billing.test")

    log.info("setWebhook for %s failed: https://api.telegram.org/bot%s/setWebhook", "shop bot", BOT_TOKEN)
    log.info("attach card %s for key %s", CARD_TOKEN, API_KEY)
    log.info("charge", extra={"token": "cus_A1/pm_B2", "card": {"token": CARD_TOKEN, "last4": "4242"}, "headers": {"Authorization": f"Bearer {API_KEY}"}})
    log.info("sign-in password=hunter2-very-secret and Authorization: Bearer %s", API_KEY)
    log.info({"event": "bot connected", "bot_token": BOT_TOKEN, "project": 7})

    printed = json.dumps(lines())
    for secret in (BOT_TOKEN, API_KEY, CARD_TOKEN, "cus_A1/pm_B2", "hunter2-very-secret", "Zx8v-Qw3rT5y"):
        assert secret not in printed
    first, second, third, fourth, fifth = lines()
    assert first["message"] == "setWebhook for shop bot failed: https://api.telegram.org/bot[redacted]/setWebhook"
    assert second["message"] == "attach card tok_[redacted] for key ak_0123456789_[redacted]"  # the key's prefix names it, no secret
    assert third["token"] == "[redacted]" and third["card"] == {"token": "[redacted]", "last4": "4242"}
    assert third["headers"] == {"Authorization": "[redacted]"}
    assert "password=[redacted]" in fourth["message"]
    assert fifth["bot_token"] == "[redacted]" and fifth["project"] == 7


def test_issue17_secrets_in_a_traceback_are_redacted(lines):
    try:
        raise RuntimeError(f"Telegram refused {BOT_TOKEN} with card {CARD_TOKEN}")
    except RuntimeError:
        logging.getLogger("projects.test").exception("sending failed")

    (line,) = lines()
    assert "RuntimeError: Telegram refused [redacted] with card tok_[redacted]" in line["exc_info"]
    assert BOT_TOKEN not in json.dumps(line) and CARD_TOKEN not in json.dumps(line)


def test_issue17_settings_secrets_are_redacted_wherever_they_appear(lines, settings):
    logging.getLogger("config.test").warning("SECRET_KEY is %s", settings.SECRET_KEY)

    (line,) = lines()
    assert settings.SECRET_KEY not in line["message"] and line["message"] == "SECRET_KEY is [redacted]"


def test_issue17_redaction_keeps_ordinary_text():
    text = "client 42 renewed 3 packages, 1500 cents; night 2026-03-10 step renewals at 01:00:05"
    assert redact(text) == text
    assert redact("postgres://app:s3cret-pass@db:5432/platform") == "postgres://app:[redacted]@db:5432/platform"


def test_issue17_night_chunk_lines_name_the_chunk(lines, monkeypatch):
    """The night binds its chunk (billing.night.apply.process): every line of its work says which."""

    def packages(client_ids, night):
        logging.getLogger("billing.subscriptions").info("changing packages of %d clients", len(client_ids))
        return Written()

    monkeypatch.setitem(night_apply.WRITERS, "packages", packages)
    monkeypatch.setattr(night_apply, "apply", lambda step, ids, night: (len(ids), 0, night_apply.WRITERS[step](ids, night)))
    at = datetime.datetime(2026, 3, 9, 23, 0, tzinfo=datetime.UTC)

    process("packages", [11, 12, 13], Night(day=at.date(), at=at))
    logging.getLogger("billing.test").info("after the chunk")

    during, after = lines()
    assert (during["night"], during["step"], during["chunk"]) == ("2026-03-09", "packages", "11-13 (3)")
    assert "chunk" not in after and "night" not in after


def test_issue17_log_context_nests_and_ends():
    handler_stream = io.StringIO()
    handler = logging.StreamHandler(handler_stream)
    handler.addFilter(RequestContext())
    handler.setFormatter(TextFormatter("%(message)s"))
    log = logging.getLogger("core.test.context")
    log.addHandler(handler)
    log.propagate = False
    try:
        with log_context(night="2026-03-09"):
            with log_context(step="dunning", chunk="1-1000 (1000)"):
                log.warning("inner")
            log.warning("outer")
        log.warning("none")
    finally:
        log.removeHandler(handler)
        log.propagate = True
    assert handler_stream.getvalue().splitlines() == [
        "inner [night=2026-03-09 step=dunning chunk=1-1000 (1000)]",
        "outer [night=2026-03-09]",
        "none",
    ]


def test_issue17_production_prints_json_lines_redacted():
    """End to end through settings.LOGGING: JSON under DJANGO_ENV=production, text by default,
    JSON again with LOG_FORMAT=json; a card token printed redacted in each."""
    code = ("import django, logging; django.setup(); "
            f"logging.getLogger('billing.test').warning('card %s refused', {CARD_TOKEN!r})")
    base = {k: v for k, v in os.environ.items() if k not in {"DJANGO_ENV", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "LOG_FORMAT"}}
    base["DJANGO_SETTINGS_MODULE"] = "config.settings"

    def run(**env):
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stderr.strip().splitlines()[-1]

    production = json.loads(run(DJANGO_ENV="production", SECRET_KEY="x" * 60, ALLOWED_HOSTS="platform.example.com"))
    assert production["message"] == "card tok_[redacted] refused" and production["level"] == "WARNING"
    assert production["logger"] == "billing.test" and production["request_id"] is None
    development = run()
    assert development.endswith("WARNING billing.test: card tok_[redacted] refused")
    assert json.loads(run(LOG_FORMAT="json"))["message"] == "card tok_[redacted] refused"


@override_settings(LOG_REQUESTS=False)
@pytest.mark.django_db
def test_issue17_access_lines_can_be_turned_off(client, lines):
    response = client.get("/accounts/login/")

    assert response["X-Request-ID"]
    assert [line for line in lines() if line["logger"] == "core.request"] == []


@pytest.mark.django_db
def test_issue17_secret_url_parts_are_not_logged(client, lines):
    client.get("/privacy/download/abcdef0123456789secret/")

    (line,) = [line for line in lines() if line["logger"] == "core.request"]
    assert "abcdef0123456789secret" not in json.dumps(lines())
    assert line["path"] == "/privacy/download/[redacted]/"


def test_key_for_makes_keys_of_the_redacted_shape(db, client_account):
    """The redaction's API key pattern fits the keys the service really issues."""
    key = key_for(client_account)
    assert redact(f"key {key}") == f"key ak_{key.split('_')[1]}_[redacted]"
