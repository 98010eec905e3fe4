"""Issue 17, item 3: isolation enumerated from the URL configuration. Every route that
`get_resolver()` knows (includes walked) has its case in `route_isolation_cases.py`, or the test
fails naming it. For each object route and each method it takes:

- an anonymous caller gets 401 (API) or the sign-in page (dashboard), and no data;
- another client gets 404 (or, on the dashboard, the answer an object that does not exist gets),
  and none of the victim's values;
- a participant without the route's section (PRJ-1), holding every other one, gets 403 or 404
  (the dashboard: the refusal's redirect) and none of that section's values;
- a participant under an `abuse` block (ACC-3) gets 403 on every method, reads too;
- the owner, blocked (ACC-3), may read and may not change (403 `account_blocked`);
and every refused write leaves every row as it was. The owner's own call then proves the case:
it answers 2xx and its write changes the database, so a refusal above was not a bad body's 400."""

import re
from dataclasses import dataclass

import pytest
from django.db import transaction
from django.urls import URLResolver, get_resolver, resolve, reverse

from projects.access import SECTIONS
from tests.core.route_isolation_cases import (
    ADMIN_PREFIX,
    ADMIN_PUBLIC,
    ANY,
    API_OBJECT_ROUTES,
    DASHBOARD_OBJECT_ROUTES,
    EXEMPT_OBJECT_ROUTES,
    EXEMPT_PREFIXES,
    MINE,
    PLAIN_ROUTES,
)
from tests.core.route_isolation_world import ALL_DATA, MISSING_ID, MISSING_NUMBER, SECTION_DATA, api_caller, browser, build_world
from tests.snapshot import changed_tables, database_state

pytestmark = pytest.mark.django_db

API_PREFIX = "api/"
SIGN_IN = "/accounts/login/"


@dataclass(frozen=True)
class Route:
    pattern: str  # the whole pattern, includes joined: "api/v1/projects/<int:project_id>/"
    name: str  # namespaced ("dashboard:project"); an unnamed route goes by its pattern
    params: tuple
    callback: object


def walk(resolver=None, prefix: str = "", namespace: tuple = (), params: tuple = ()) -> list[Route]:
    """Every route of the URL configuration, through every include."""
    routes = []
    for entry in (resolver or get_resolver()).url_patterns:
        found = params + tuple(entry.pattern.regex.groupindex)
        if isinstance(entry, URLResolver):
            routes += walk(entry, prefix + str(entry.pattern), namespace + ((entry.namespace,) if entry.namespace else ()), found)
            continue
        pattern = prefix + str(entry.pattern)
        name = ":".join((*namespace, entry.name)) if entry.name else pattern
        routes.append(Route(pattern, name, found, entry.callback))
    return routes


def fill(route: Route, values: dict) -> str:
    """The route's path with each parameter given its value; resolved back, to be sure it is that route."""
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: str(values[m.group(1)]), route.pattern)  # regex routes (the admin's)
    path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), path).replace("^", "").replace("$", "")
    assert resolve(path).func == route.callback, (route.name, path)
    return path


def view_methods(route: Route) -> set[str]:
    """What a DRF view answers (HEAD and OPTIONS apart: every view answers those)."""
    view = route.callback.cls
    return {m.upper() for m in view.http_method_names if m not in ("head", "options", "trace") and hasattr(view, m)}


ROUTES = walk()
BY_NAME = {route.name: route for route in ROUTES}
OBJECT_CASES = {**API_OBJECT_ROUTES, **DASHBOARD_OBJECT_ROUTES}


def problems(routes: list[Route]) -> list[str]:
    """What the registry misses or keeps for nothing; [] when every route has its one case."""
    found, names = [], {r.name for r in routes}
    for route in routes:
        if route.pattern.startswith(ADMIN_PREFIX) or any(route.pattern.startswith(p) for p in EXEMPT_PREFIXES):
            continue
        entries = [r for r in (OBJECT_CASES, PLAIN_ROUTES, EXEMPT_OBJECT_ROUTES) if route.name in r]
        if not entries:
            found.append(f"new route without its isolation case: {route.name} ({route.pattern})")
        elif route.name in OBJECT_CASES:
            case = OBJECT_CASES[route.name]
            if set(case.params) != set(route.params):
                found.append(f"isolation case of {route.name} names {sorted(case.params)}, the route takes {sorted(route.params)}")
            if route.pattern.startswith(API_PREFIX) and set(case.calls) != view_methods(route):
                found.append(f"isolation case of {route.name} covers {sorted(case.calls)}, the view answers {sorted(view_methods(route))}")
        elif route.params and route.name not in EXEMPT_OBJECT_ROUTES:
            found.append(f"{route.name} takes {list(route.params)}: it needs an object case, not a plain one")
    for registry in (OBJECT_CASES, PLAIN_ROUTES, EXEMPT_OBJECT_ROUTES):
        found += [f"isolation case for a route that no longer exists: {name}" for name in registry if name not in names]
    for prefix in (*EXEMPT_PREFIXES, ADMIN_PREFIX):
        if not any(r.pattern.startswith(prefix) for r in routes):
            found.append(f"isolation exemption for a prefix that no longer exists: {prefix}")
    return found


def test_issue17_every_route_has_its_isolation_case():
    """Issue 17, item 3: a route in the URL conf without its case fails, naming it; so does a case for a gone route."""
    assert len(ROUTES) > 100 and {"api-project", "dashboard:project", "admin:index"} <= set(BY_NAME)
    assert problems(ROUTES) == []


def test_issue17_a_new_route_or_a_gone_one_is_named():
    """The completeness check itself: a route added without a case, and a case whose route went, are both named."""
    added = Route("api/v1/projects/<int:project_id>/secrets/", "api-project-secrets", ("project_id",), object())
    kept = [r for r in ROUTES if r.name != "api-project-bot"]
    assert set(problems([*kept, added])) - set(problems(ROUTES)) == {
        "new route without its isolation case: api-project-secrets (api/v1/projects/<int:project_id>/secrets/)",
        "isolation case for a route that no longer exists: api-project-bot",
    }


# --- the checks ----------------------------------------------------------------------------------------


def text_of(response) -> str:
    return b"".join(response.streaming_content).decode(errors="replace") if response.streaming else response.content.decode(errors="replace")


def assert_shows_none(response, values, who: str, where: str) -> None:
    body = text_of(response).lower()
    leaked = [value for value in values if value.lower() in body]
    assert not leaked, f"{where} answered {who} ({response.status_code}) with the victim's {leaked}"


def assert_unchanged(baseline: dict, who: str, where: str) -> None:
    changed = changed_tables(baseline, database_state())
    assert not changed, f"{where}, refused to {who}, changed {changed}"


def values_for(case, world) -> dict:
    ids = world.ids()
    return {param: ids[key] for param, key in case.params.items()}


def missing_for(case) -> dict:
    return {param: MISSING_NUMBER if key == "invoice" else MISSING_ID for param, key in case.params.items()}


def crossed_paths(route, case, world) -> tuple[str, str] | None:
    """For a route naming an object inside a project: the victim's object under the stranger's own
    project, and a missing one there; None for a route naming the project alone."""
    if "project_id" not in case.params or len(case.params) == 1:
        return None
    own = world.stranger_project.pk
    return fill(route, {**values_for(case, world), "project_id": own}), fill(route, {**missing_for(case), "project_id": own})


def section_data(need: str) -> list[str]:
    return SECTION_DATA.get(need, []) if need in SECTIONS else []


@pytest.fixture
def world(settings):
    settings.MESSAGING_CHANNEL = "tests.core.route_isolation_world.FakeChannel"
    return build_world()


def owner_control(send, world, calls, where: str, ok) -> None:
    """The owner's own calls work, and its writes change rows: each in a savepoint rolled back."""
    for method, call in calls.items():
        with transaction.atomic():
            before = database_state() if call.write else None
            response = send(world.owner, method, call)
            assert ok(response, call), f"{where} {method}: the owner's own call answered {response.status_code}: {text_of(response)[:300]}"
            if call.write:
                assert changed_tables(before, database_state()), f"{where} {method}: the owner's call changed nothing, so its case proves nothing"
            transaction.set_rollback(True)


# --- the API --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(API_OBJECT_ROUTES))
def test_issue17_api_object_route_is_isolated(name, world):
    """Issue 17, item 3 / PRJ-1 / ACC-3: one API object route, every method, every kind of outsider."""
    check_api_object_route(name, world)


def check_api_object_route(name: str, world) -> None:
    route, case = BY_NAME[name], API_OBJECT_ROUTES[name]
    path, missing = fill(route, values_for(case, world)), fill(route, missing_for(case))
    in_project = "project_id" in case.params
    callers = {"stranger": api_caller(world.stranger), "owner": api_caller(world.owner)}
    if in_project:
        callers["blocked participant"] = api_caller(world.blocked_participant())
        for call in case.calls.values():
            if call.need not in (ANY, MINE):
                without = call.need if call.need in SECTIONS else None
                callers.setdefault(("participant", without), api_caller(world.participant(without)))
    anonymous = api_caller(None)
    crossed = crossed_paths(route, case, world)

    def send(api, method, call, url=path):
        return getattr(api, method.lower())(url, call.data() if call is not None else None, format="json")

    baseline = database_state()
    extra = ["OPTIONS", *(["HEAD"] if "GET" in case.calls else [])]
    for method in [*case.calls, *extra]:
        call = case.calls.get(method)
        where = f"{method} {path} ({name})"
        response = send(anonymous, method, call)
        assert response.status_code == 401, f"{where}: anonymous got {response.status_code}"
        assert_shows_none(response, ALL_DATA, "an anonymous caller", where)

        response = send(callers["stranger"], method, call)
        if call is None:  # HEAD, OPTIONS: as for an object that does not exist
            assert response.status_code == send(callers["stranger"], method, call, missing).status_code, where
        else:
            assert response.status_code == 404, f"{where}: another client got {response.status_code}: {text_of(response)[:200]}"
        assert_shows_none(response, ALL_DATA, "another client", where)
        if crossed and call is not None:
            response = send(callers["stranger"], method, call, crossed[0])
            assert response.status_code == 404, f"{method} {crossed[0]} ({name}): another client, under its own project, got {response.status_code}"
            assert_shows_none(response, ALL_DATA, "another client under its own project", where)

        if in_project and call is not None:
            if call.need != ANY:
                without = call.need if call.need in SECTIONS else None
                response = send(callers[("participant", without)], method, call)
                who = f"a participant without {without}" if without else "a participant who is not the owner"
                assert response.status_code in (403, 404), f"{where}: {who} got {response.status_code}: {text_of(response)[:200]}"
                assert_shows_none(response, section_data(call.need), who, where)
            response = send(callers["blocked participant"], method, call)
            assert response.status_code == 403 and response.json()["code"] == "participation_suspended", \
                f"{where}: a participant under an abuse block got {response.status_code}: {text_of(response)[:200]}"
            assert_shows_none(response, ALL_DATA, "a blocked participant", where)
        if call is not None and call.write:
            assert_unchanged(baseline, "outsiders", where)

    blocked_owner(world, case, lambda method, call: send(callers["owner"], method, call), path,
                  ok=api_ok, refused=lambda r: r.status_code == 403 and r.json()["code"] == "account_blocked")
    owner_control(lambda client, method, call: send(callers["owner"], method, call), world, case.calls, path, ok=api_ok)


def api_ok(response, call) -> bool:
    return 200 <= response.status_code < 300


def page_ok(response, call) -> bool:
    """A read shows its page; a write answers its page or the redirect after it."""
    return response.status_code in ((200, 302) if call.write else (200,))


def blocked_owner(world, case, send, where: str, *, ok, refused) -> None:
    """ACC-3: the victim itself, blocked by staff, reads and is refused changes; rolled back after."""
    from accounts import services as accounts

    with transaction.atomic():
        accounts.block(client=world.owner, reason="staff", note="issue 17 isolation")
        baseline = database_state()
        for method, call in case.calls.items():
            response = send(method, call)
            if call.blocked_owner_may:
                assert ok(response, call), f"{method} {where}: the blocked owner may (ACC-3), got {response.status_code}: {text_of(response)[:200]}"
                baseline = database_state() if call.write else baseline
            else:
                assert refused(response), f"{method} {where}: the blocked owner got {response.status_code}: {text_of(response)[:200]}"
                assert_unchanged(baseline, "the blocked owner", f"{method} {where}")
        transaction.set_rollback(True)


# --- the dashboard --------------------------------------------------------------------------------------


def follow(session, response):
    """The page a refusal's redirect leads to (one hop), to check it shows nothing either."""
    return session.get(response["Location"]) if response.status_code == 302 else response


@pytest.mark.parametrize("name", sorted(DASHBOARD_OBJECT_ROUTES))
def test_issue17_dashboard_object_route_is_isolated(name, world):
    """Issue 17, item 3 / PRJ-1 / ACC-3: one dashboard object route, GET and POST, every kind of outsider."""
    check_dashboard_object_route(name, world)


def check_dashboard_object_route(name: str, world) -> None:
    route, case = BY_NAME[name], DASHBOARD_OBJECT_ROUTES[name]
    path, missing = fill(route, values_for(case, world)), fill(route, missing_for(case))
    in_project = "project_id" in case.params
    sessions = {"stranger": browser(world.stranger), "owner": browser(world.owner)}
    if in_project:
        sessions["blocked participant"] = browser(world.blocked_participant())
        for call in case.calls.values():
            without = call.need if call.need in SECTIONS else None
            if call.need not in (ANY, MINE):
                sessions.setdefault(("participant", without), browser(world.participant(without)))
    anonymous = browser(None)
    crossed = crossed_paths(route, case, world)

    def send(session, method, call, url=path):
        data = call.data() if call is not None else None
        return session.get(url) if method == "GET" else session.post(url, data or {})

    baseline = database_state()
    for method in ("GET", "POST"):
        call = case.calls.get(method)
        where = f"{method} {path} ({name})"
        response = send(anonymous, method, call)
        assert response.status_code == 302 and response["Location"].startswith(SIGN_IN), f"{where}: anonymous got {response.status_code}"
        assert_shows_none(response, ALL_DATA, "an anonymous caller", where)

        stranger = sessions["stranger"]
        response = send(stranger, method, call)
        as_missing = send(stranger, method, call, missing)
        assert (response.status_code, response.get("Location")) == (as_missing.status_code, as_missing.get("Location")), \
            f"{where}: another client got {response.status_code}, a missing object {as_missing.status_code}"
        allowed = (302, 404, 405) if case.stranger_as_missing else (404, 405)
        assert response.status_code in allowed, f"{where}: another client got {response.status_code}"
        assert_shows_none(follow(stranger, response), ALL_DATA, "another client", where)
        if crossed:
            response, as_missing = send(stranger, method, call, crossed[0]), send(stranger, method, call, crossed[1])
            assert (response.status_code, response.get("Location")) == (as_missing.status_code, as_missing.get("Location")), \
                f"{method} {crossed[0]} ({name}): another client, under its own project, got {response.status_code}, a missing object {as_missing.status_code}"
            assert_shows_none(follow(stranger, response), ALL_DATA, "another client under its own project", where)

        if call is None:
            assert send(sessions["owner"], method, None).status_code == 405, f"{where}: not in the case, so the owner must get 405"
            continue
        if in_project:
            if call.need != ANY:
                without = call.need if call.need in SECTIONS else None
                session = sessions[("participant", without)]
                response = send(session, method, call)
                who = f"a participant without {without}" if without else "a participant who is not the owner"
                assert response.status_code in (302, 403, 404), f"{where}: {who} got {response.status_code}"
                assert_shows_none(follow(session, response), section_data(call.need), who, where)
            session = sessions["blocked participant"]
            response = send(session, method, call)
            assert response.status_code in (302, 403, 404), f"{where}: a participant under an abuse block got {response.status_code}"
            assert_shows_none(follow(session, response), ALL_DATA, "a blocked participant", where)
        if call.write:
            assert_unchanged(baseline, "outsiders", where)

    owner = sessions["owner"]
    blocked_owner(world, case, lambda method, call: send(owner, method, call), path,
                  ok=page_ok, refused=lambda r: r.status_code in (302, 403) and "blocked" in text_of(follow(owner, r)).lower())
    owner_control(lambda client, method, call: send(owner, method, call), world, case.calls, path, ok=page_ok)


# --- routes without parameters, the admin, the capability links ------------------------------------------


def test_issue17_every_plain_route_wants_a_caller_and_shows_a_stranger_nothing(world):
    """Issue 17, item 3: signed-in routes refuse anonymous callers (401, or the sign-in page) on every
    method and change nothing; what they show a signed-in client is its own, none of the victim's."""
    api, session = api_caller(world.stranger), browser(world.stranger)
    anonymous_api, anonymous = api_caller(None), browser(None)
    signed_in = [(name, BY_NAME[name]) for name, plain in sorted(PLAIN_ROUTES.items()) if not plain.public]
    baseline = database_state()
    for name, route in signed_in:
        path = fill(route, {})
        is_api = route.pattern.startswith(API_PREFIX)
        for method in sorted(view_methods(route)) if is_api else ["GET", "POST"]:
            where = f"{method} {path} ({name})"
            if is_api:
                response = getattr(anonymous_api, method.lower())(path, {}, format="json")
                assert response.status_code == 401, f"{where}: anonymous got {response.status_code}"
            else:
                response = anonymous.get(path) if method == "GET" else anonymous.post(path, {})
                assert response.status_code == 302 and response["Location"].startswith(SIGN_IN), f"{where}: anonymous got {response.status_code}"
            assert_shows_none(response, ALL_DATA, "an anonymous caller", where)
        assert_unchanged(baseline, "anonymous callers", name)
    for name, route in signed_in:
        path = fill(route, {})
        is_api = route.pattern.startswith(API_PREFIX)
        if not is_api or "GET" in view_methods(route):
            response = api.get(path) if is_api else session.get(path)
            assert response.status_code < 500, f"GET {path}: {response.status_code}"
            assert_shows_none(response, ALL_DATA, "another client", f"GET {path} ({name})")


def test_issue17_a_clients_lists_hold_its_own_rows_and_no_others(world):
    """Issue 17, item 3 / PRJ-1: the API's per-caller lists show another client exactly its own rows."""
    from accounts.models import ApiKey
    from compliance.models import Complaint, PrivacyRequest
    from projects.models import Project

    stranger = world.stranger
    api = api_caller(stranger)
    own = {
        "api-projects": Project.objects.filter(owner=stranger),
        "api-keys": ApiKey.objects.filter(client=stranger, revoked_at__isnull=True),
        "api-complaints": Complaint.objects.filter(complainant=stranger),
        "api-privacy-requests": PrivacyRequest.objects.filter(client=stranger),
    }
    for name, rows in own.items():
        response = api.get(fill(BY_NAME[name], {}))
        listed = sorted(row["id"] for row in response.json()["results"])
        assert listed == sorted(rows.values_list("pk", flat=True)) != [], f"{name}: another client's list holds {listed}"


def admin_values(world) -> dict:
    pk = world.owner.pk
    return {"object_id": pk, "pk": pk, "id": pk, "content_type_id": 1, "app_label": "accounts", "url": "nothing-here/"}


def test_issue17_the_admin_is_for_staff_only(world):
    """Issue 17, item 3: every admin route sends a signed-in client who is not staff (and an anonymous
    caller) to the admin's sign-in, GET and POST, and changes nothing."""
    admin_login = reverse("admin:login")
    client, anonymous = browser(world.owner), browser(None)
    routes = [r for r in ROUTES if r.pattern.startswith(ADMIN_PREFIX) and r.name not in ADMIN_PUBLIC]
    assert len(routes) > 50
    baseline = database_state()
    for route in routes:
        path = fill(route, admin_values(world))
        for who, session, method in (("a client", client, "get"), ("a client", client, "post"), ("an anonymous caller", anonymous, "get")):
            response = getattr(session, method)(path)
            assert response.status_code == 302 and response["Location"].startswith(admin_login), \
                f"{method.upper()} {path} ({route.name}): {who} got {response.status_code} {response.get('Location')}"
    assert_unchanged(baseline, "a client who is not staff", "the admin")


def test_issue17_a_privacy_download_needs_its_token(world):
    """CMP-2: the emailed export link is its own capability; any other token is 404 with nothing in it."""
    response = browser(world.stranger).get(reverse("privacy_download", kwargs={"token": "not-a-token"}))
    assert response.status_code == 404
    assert_shows_none(response, ALL_DATA, "another client", "the privacy download")
