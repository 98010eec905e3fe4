"""What the client chooses for itself: the language of its dashboard and emails (NTF-1)."""

from django.conf import settings
from django.core.exceptions import ValidationError

from accounts.models import Client


def set_language(*, client: Client, language: str) -> Client:
    """Keep the client's language; one it cannot choose is refused and changes nothing."""
    if language not in dict(settings.LANGUAGES):
        raise ValidationError({"language": ["Choose English or Ukrainian."]})
    if client.language != language:
        client.language = language
        client.save(update_fields=["language"])
    return client


def language_of(client: Client) -> str:
    """The language to write to the client in: its choice, else the site's."""
    return client.language or settings.LANGUAGE_CODE
