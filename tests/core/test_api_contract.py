"""The OpenAPI schema and the error shape of API.md."""

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_schema_validates_with_every_operation_typed(tmp_path):
    # --fail-on-warn: an untyped operation or field is a warning, so this fails on any.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    text = (tmp_path / "schema.yaml").read_text()
    for path in ["/api/v1/auth/register/", "/api/v1/auth/token/", "/api/v1/me/", "/api/v1/api-keys/", "/api/v1/api-keys/{id}/"]:
        assert f"{path}:" in text


def test_schema_and_docs_are_served(client):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def test_unknown_api_path_is_404_json(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}
