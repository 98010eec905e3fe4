"""Nothing loads from a CDN (DESIGN.md): the API documentation page and the dashboard load every
script, style sheet and image from our own static files, which exist."""

import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


def assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)=["\']([^"\']+\.(?:js|css|png|svg|ico))["\']', html)


def test_the_api_docs_page_loads_nothing_from_another_host(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    found = assets(html) + re.findall(r'"(https?://[^"]+\.(?:js|css))"', html)
    assert found, html[:500]
    for url in found:
        assert url.startswith("/static/"), url
        assert finders.find(url.removeprefix("/static/")), url
