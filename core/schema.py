"""The OpenAPI schema's answers as the API really gives them (issue 17, item 2).

Every operation lists the error statuses it can answer, in API.md's shapes, worked out from what
DRF itself runs for the view: its authenticators (401, and 403 for a refused CSRF check on a
session), its permissions (403), its throttles (429 with Retry-After), a body or filters to
validate (400), a path to resolve or a cursor to read (404). A view adds what only it knows in
`extend_schema(responses=...)` (a service's 409, a provider's 503) or, for every method of a kind,
in `schema_refusals` (see `AutoSchema`). A client generated from the schema is then never
surprised, and the schemathesis test (tests/core/test_schemathesis.py) checks both ways.
"""

from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import permissions
from rest_framework.authentication import SessionAuthentication

ERROR = "ApiError"
FIELD_ERRORS = "FieldErrors"

# API.md "Conventions": {"code", "detail"} for every refusal; 400 field by field.
ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "description": "The rule or error, in snake_case."},
        "detail": {"type": "string", "description": "A sentence for a person, in the request's language."},
    },
    "required": ["code", "detail"],
}
FIELD_ERRORS_SCHEMA = {
    "type": "object",
    "description": "Field by field: each field's messages, or a nested field's (an object, or a list with one entry per item); "
                   "`non_field_errors` for the body as a whole.",
    "additionalProperties": {"anyOf": [{"type": "array"}, {"type": "object"}]},
}

DESCRIPTIONS = {
    400: "Invalid input, field by field; or a refusal of the request as a whole as `{code, detail}` (e.g. a NUL character "
         "in its address, query or a header, `invalid_characters`). Nothing is stored.",
    401: "No credentials, or an unknown or revoked API key.",
    403: "No permission: a blocked account, too low a level, or a session's request without its CSRF token.",
    404: "Not found, or not visible to the caller; or a pagination cursor that is not one of ours.",
    409: "A business rule refuses the action (`code` names it). Nothing is changed.",
    413: "The body is larger than the server reads (`body_too_large`).",
    415: "The body's Content-Type is not one the operation reads.",
    429: "Too many requests: retry after `Retry-After` seconds.",
    503: "Briefly unavailable: a database, cache or queue it needs is unreachable (`service_unavailable`), or a provider "
         "did not answer; retry later.",
}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer", "minimum": 0}, "required": True, "description": "Seconds to wait before retrying."}}
# What the edge answers for any request (core.edge, core.outage): bad characters, an outage.
EVERY_REQUEST = {400, 503}
WITH_A_BODY = {413, 415}  # core.parsers: too large; not a type it parses


def _requires_authentication(view) -> bool:
    return any(not isinstance(p, permissions.AllowAny) for p in view.get_permissions())


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, plus the error answers each operation can give and a body
    for a DELETE that declares one (`DELETE /api/v1/me/` takes the password).

    A view may name statuses that every safe (`"read"`) or unsafe (`"write"`) method of it can
    answer beyond DRF's own, e.g. a project's access check: `schema_refusals = {"read": {403},
    "write": {403, 409}}`."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        self._register_error_components()
        responses = operation["responses"]
        complete_errors(responses, self._error_statuses(operation))
        return operation

    def get_auth(self):
        auths = super().get_auth()
        # A view open to all (no permission at all, e.g. cookie consent) still reads a key if sent.
        if auths and not self.view.get_permissions() and {} not in auths:
            auths.append({})
        return auths

    def get_request_serializer(self):
        # A DELETE takes a body only when its view declares one (extend_schema(request=...)),
        # never a generic view's serializer_class.
        if self.method == "DELETE":
            return None
        return super().get_request_serializer()

    def _get_request_body(self, direction="request"):
        if self.method != "DELETE" or self.get_request_serializer() is None:
            return super()._get_request_body(direction)
        # drf-spectacular writes a body for PUT, PATCH and POST only: build this one as a POST's.
        self.method = "POST"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"

    # --- the error answers ------------------------------------------------------------------------

    def _error_statuses(self, operation: dict) -> set[int]:
        view, unsafe = self.view, self.method not in permissions.SAFE_METHODS
        statuses = set(EVERY_REQUEST) | (WITH_A_BODY if "requestBody" in operation else set())
        authenticators = view.get_authenticators()
        if authenticators:
            statuses.add(401)  # a bad key is refused even where anonymous callers are welcome
            if unsafe and any(isinstance(a, SessionAuthentication) for a in authenticators):
                statuses.add(403)  # the dashboard's session without its CSRF token
        if authenticators and _requires_authentication(view) and unsafe:
            statuses.add(403)  # ACC-3: a blocked account changes nothing
        if view.get_throttles():
            statuses.add(429)
        parameters = operation.get("parameters", [])
        cursor = getattr(getattr(view, "paginator", None), "cursor_query_param", None)
        if any(p["in"] == "path" or (p["in"] == "query" and p["name"] == cursor) for p in parameters):
            statuses.add(404)  # no such object for the caller; a cursor that is not one we made
        refusals = getattr(view, "schema_refusals", {})
        statuses |= set(refusals.get("write" if unsafe else "read", ()))
        return statuses

    def _register_error_components(self) -> None:
        for name, schema in ((ERROR, ERROR_SCHEMA), (FIELD_ERRORS, FIELD_ERRORS_SCHEMA)):
            self.registry.register_on_missing(ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema))


def complete_errors(responses: dict, statuses: set[int]) -> None:
    """Add the error answers `statuses` to an operation's `responses` where it does not declare
    them, each in API.md's shape: `{code, detail}`; a 400 also field by field, whatever a view
    declared; a 429 and a 503 with Retry-After."""
    for code in sorted(statuses):
        responses.setdefault(str(code), {"description": DESCRIPTIONS[code]})
    error = {"$ref": f"#/components/schemas/{ERROR}"}
    for key, response in responses.items():
        code = int(key)
        if code < 400:
            continue
        if not response.get("description"):
            response["description"] = DESCRIPTIONS.get(code, "")
        if code == 400:
            response["content"] = {"application/json": {"schema": {"anyOf": [{"$ref": f"#/components/schemas/{FIELD_ERRORS}"}, error]}}}
        elif not response.get("content"):
            response["content"] = {"application/json": {"schema": error}}
        if code == 429:
            response.setdefault("headers", {}).update(RETRY_AFTER)
        elif code == 503:  # an outage says when to retry; a provider's silence may not
            response.setdefault("headers", {}).update({"Retry-After": {**RETRY_AFTER["Retry-After"], "required": False}})
