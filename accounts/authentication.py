from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts import services

MAX_KEY_LENGTH = 200  # ours are about 60 characters: ak_<prefix>_<secret>


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <key>` with an API key (ACC-5). A revoked or unknown key is 401."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() != self.keyword.lower():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be `Bearer <key>`.")
        key = header[1]
        # A key is short printable ASCII; anything else (a NUL, say, which PostgreSQL refuses in
        # the lookup) names no key (issue 17).
        if len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
            raise exceptions.AuthenticationFailed("The API key is unknown or revoked.")
        api_key = services.api_key_for_secret(key)
        if api_key is None or not api_key.client.is_active:
            raise exceptions.AuthenticationFailed("The API key is unknown or revoked.")
        services.note_api_key_used(api_key)
        return api_key.client, api_key

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API key from /api/v1/api-keys/ or /api/v1/auth/token/."}
