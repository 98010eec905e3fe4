"""Issue 17, item 2: schemathesis in-process over every operation of the OpenAPI schema (the
Telegram webhook included), as the owner of a project (valid and invalid inputs), as a participant
who may only view its subscribers, and as an anonymous caller: no answer is a 5xx, and every
answer is one the schema documents (its status, its content type, its body, its headers).

Bounded so that the whole file takes a minute or two in CI: a fixed seed and derandomized
examples (the same requests every run), few examples per operation, no shrinking. Each request
runs in its own savepoint, rolled back after it, so every example meets the same data."""

import copy
import json
import traceback

import hypothesis
import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import got_request_exception, request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import override_settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import key_for, make_client, make_project, make_subscriber

pytestmark = pytest.mark.django_db

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance, response_headers_conformance]
# Examples per operation and pass: enough for each operation's shapes, few enough for CI's budget.
MAX_EXAMPLES = 12


def _generated_schema() -> dict:
    """The schema /api/schema/ serves, made here: collecting needs no request and no database."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


class InProcess:
    """Django's WSGI application as the test client runs it: without closing the test's database
    connection at each request's end, and each request in a savepoint that is rolled back (marked
    as a TestCase's block, as the suite's own wrapping transaction is, so that the money writes'
    durable blocks run as they do in every other test). Server errors' tracebacks are kept."""

    def __init__(self):
        self.handler = WSGIHandler()
        self.errors: list[str] = []

    def _server_error(self, sender, request=None, **kwargs):
        self.errors.append(traceback.format_exc())

    def __call__(self, environ, start_response):
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        got_request_exception.connect(self._server_error)
        savepoint = transaction.atomic()
        savepoint._from_testcase = True
        try:
            with savepoint:
                response = self.handler(environ, start_response)
                try:
                    body = b"".join(response)
                finally:
                    response.close()
                transaction.set_rollback(True)
            return [body]
        finally:
            got_request_exception.disconnect(self._server_error)
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)


def _schema(*, mode: str, max_examples: int):
    config = schemathesis.Config.from_dict({
        "seed": 17,
        "generation": {"mode": mode, "max-examples": max_examples, "no-shrink": True, "deterministic": True},
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    })
    loaded = schemathesis.openapi.from_dict(copy.deepcopy(GENERATED), config=config)
    loaded.app = APP
    return loaded


APP = InProcess()
GENERATED = _generated_schema()
# The owner reaches every operation's body: valid and invalid inputs. A participant and an
# anonymous caller are mostly refused before the body is read: valid inputs, fewer.
as_owner = _schema(mode="all", max_examples=MAX_EXAMPLES)
as_participant = _schema(mode="positive", max_examples=MAX_EXAMPLES // 2)
anonymous = _schema(mode="positive", max_examples=MAX_EXAMPLES // 3)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """A client with a project that has subscribers, a participant, a funnel, a broadcast, an
    address book with a contact, a card and an invoice; the keys of the owner and of the
    participant; the ids the paths name. Made once for the file, in a transaction rolled back
    after its last test: every test (and, in its savepoint, every request) meets the same data."""
    with django_db_blocker.unblock(), override_settings(TELEGRAM_API_BASE_URL="http://127.0.0.1:9"):
        # (nothing listens on port 9: Telegram "does not answer", at once, never the real one)
        outer = transaction.atomic()
        outer._from_testcase = True
        outer.__enter__()
        try:
            yield _make_world()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def _make_world() -> dict:
    from accounts import services as accounts
    from billing import services as billing
    from billing.models import Invoice
    from projects import imports
    from projects import services as projects
    from projects.funnels import services as funnels
    from projects.funnels.spec import BlockSpec, FunnelSpec
    from projects.models import Broadcast
    from tests.factories import add_member

    owner = make_client(email="owner@example.com", name="Owner")
    accounts.mark_email_verified(client=owner, email=owner.email)
    billing.attach_card(client=owner, token="tok_visa", actor=owner)
    billing.activate_pro(client=owner, period="monthly", actor=owner)
    project = make_project(owner=owner)
    subscriber = make_subscriber(project=project, email="sub@example.org")
    helper = make_client(email="helper@example.com", name="Helper")
    member = add_member(project=project, client=helper, subscribers="view")
    funnel = funnels.create_funnel(project=project, actor=owner, spec=FunnelSpec(name="Hi", start="a", blocks=(BlockSpec("a", "message", text="Hi"),)))
    broadcast = Broadcast.objects.create(project=project, text="Hello", created_by=owner)
    book = projects.create_address_book(project=project, actor=owner, name="Book")
    imports.import_contacts(address_book=book, actor=owner, rows=[{"name": "C", "email": "c@example.org"}], consent_confirmed=True)
    key, secret = accounts.create_api_key(client=owner, name="fuzz", actor=owner)
    invoice = Invoice.objects.filter(client=owner).first()
    return {
        "keys": {"owner": secret, "participant": key_for(helper)},
        "paths": {
            "project_id": project.pk, "subscriber_id": subscriber.pk, "member_id": member.pk, "funnel_id": funnel.pk,
            "broadcast_id": broadcast.pk, "book_id": book.pk, "id": key.pk, "number": invoice.number if invoice else "none",
            "token": project.telegram_webhook_token,
        },
        "telegram_secret": project.telegram_secret,
    }


def _aim(case, world, data) -> None:
    """Half the time, at the world's own objects (and with the webhook's secret): the rest, at
    whatever was generated, which is mostly nobody's."""
    if data.draw(st.booleans(), label="at the world's objects"):
        for name in case.path_parameters or {}:
            if name in world["paths"]:
                case.path_parameters[name] = world["paths"][name]
        if case.headers and "X-Telegram-Bot-Api-Secret-Token" in case.headers:
            case.headers["X-Telegram-Bot-Api-Secret-Token"] = world["telegram_secret"]


def _call_and_validate(case, headers=None):
    APP.errors.clear()
    try:
        case.call_and_validate(headers=headers, checks=CHECKS)
    except Exception as failure:
        if APP.errors:
            raise AssertionError("\n".join(APP.errors[-1].splitlines()[-15:])) from failure
        raise


SETTINGS = hypothesis.settings(deadline=None, suppress_health_check=list(hypothesis.HealthCheck), print_blob=False)


@as_owner.parametrize()
@as_owner.given(data=st.data())
@SETTINGS
def test_as_the_owner_every_answer_is_documented_and_none_is_a_server_error(case, data, world, db):
    """issue 17: with the API key of a client who owns the project, its billing, its keys."""
    _aim(case, world, data)
    _call_and_validate(case, headers={"Authorization": f"Bearer {world['keys']['owner']}"})


@as_participant.parametrize()
@as_participant.given(data=st.data())
@SETTINGS
def test_as_a_participant_every_answer_is_documented_and_none_is_a_server_error(case, data, world, db):
    """issue 17: with the key of a participant who may only view the project's subscribers."""
    _aim(case, world, data)
    _call_and_validate(case, headers={"Authorization": f"Bearer {world['keys']['participant']}"})


@anonymous.parametrize()
@anonymous.given(data=st.data())
@SETTINGS
def test_anonymous_every_answer_is_documented_and_none_is_a_server_error(case, data, world, db):
    """issue 17: with no credentials (the key's header left out)."""
    _aim(case, world, data)
    _call_and_validate(case)


# --- what the schema must hold for a generated client ------------------------------------------------


def _operations(schema: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in schema["paths"].items() for method in item if method != "parameters"}


def test_every_route_of_the_api_and_the_webhook_is_in_the_schema():
    """issue 17: the fuzzing covers every operation: each route under /api/v1/ and the Telegram
    webhook has its operations in the schema (a new route that drf-spectacular cannot see fails)."""
    from django.urls import URLPattern, URLResolver, get_resolver

    def routes(patterns, prefix=""):
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                yield from routes(entry.url_patterns, route)
            elif isinstance(entry, URLPattern) and route.startswith(("api/v1/", "webhooks/")):
                yield "/" + route.replace("<int:", "{").replace("<str:", "{").replace(">", "}")

    documented = {path for _, path in _operations(GENERATED)}
    missing = sorted(set(routes(get_resolver().url_patterns)) - documented)
    assert missing == []
    assert len(_operations(GENERATED)) >= 60


def test_the_webhook_and_the_account_deletion_body_are_in_the_schema():
    """issue 17: `POST <telegram_webhook_path>` with a Telegram Update, its secret header and its
    answers; `DELETE /api/v1/me/` with its `{password}` body, so a generated client can send it."""
    webhook = GENERATED["paths"]["/webhooks/telegram/{token}/"]["post"]
    assert webhook["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/TelegramUpdate"}
    assert GENERATED["components"]["schemas"]["TelegramUpdate"]["required"] == ["update_id"]
    assert {"X-Telegram-Bot-Api-Secret-Token", "token"} <= {p["name"] for p in webhook["parameters"]}
    assert {"200", "403"} <= set(webhook["responses"])
    delete_me = GENERATED["paths"]["/api/v1/me/"]["delete"]
    body = delete_me["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert GENERATED["components"]["schemas"][body]["required"] == ["password"]
    assert {"204", "400", "401"} <= set(delete_me["responses"])


def test_error_answers_are_documented_only_where_an_operation_gives_them():
    """issue 17: the error statuses follow what runs for the view: no 401 on a public endpoint, a
    429 with Retry-After where a throttle runs, a 404 where a path names an object, a 409 where a
    project's write guard may refuse."""
    paths = GENERATED["paths"]
    register = paths["/api/v1/auth/register/"]["post"]["responses"]
    assert "401" not in register and "403" not in register
    assert register["429"]["headers"]["Retry-After"]["required"] is True
    assert paths["/api/v1/auth/register/"]["post"].get("security") in (None, [])
    assert "404" not in paths["/api/v1/me/"]["get"]["responses"]
    assert "409" in paths["/api/v1/projects/{project_id}/subscribers/import/"]["post"]["responses"]
    assert {"401", "403", "404"} <= set(paths["/api/v1/projects/{project_id}/statistics/"]["get"]["responses"])
    error = {"$ref": "#/components/schemas/ApiError"}
    assert paths["/api/v1/me/"]["get"]["responses"]["401"]["content"]["application/json"]["schema"] == error
