"""Every route of the API answers OPTIONS and a browser's `Accept: text/html` without a 5xx:
JSON is the one format (the API is read in Swagger UI), OPTIONS names the view and its formats."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.factories import api_as, make_project

pytestmark = pytest.mark.django_db


def _routes(patterns=None, prefix: str = "") -> list[str]:
    found = []
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found += _routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern) and route.startswith("api/v1/"):
            found.append(route)
    return found


def _path(route: str, project_id: int) -> str:
    route = route.replace("<int:project_id>", str(project_id))
    return "/" + re.sub(r"<(?:int|str|slug):\w+>", "1", route).lstrip("^").rstrip("$")


def test_every_api_route_answers_options_and_html_accept_without_a_server_error(client_account):
    project = make_project(owner=client_account)
    api = api_as(client_account)
    routes = _routes()
    assert len(routes) > 30
    for route in routes:
        path = _path(route, project.pk)
        options = api.options(path)
        assert options.status_code < 500, (path, options.status_code)
        html = api.get(path, HTTP_ACCEPT="text/html")
        assert html.status_code < 500 and html["Content-Type"].startswith("application/json"), (path, html.status_code)
    answer = api.options(f"/api/v1/projects/{project.pk}/funnels/")
    assert answer.status_code == 200 and answer.json()["renders"] == ["application/json"]
