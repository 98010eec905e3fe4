"""What the client chooses for itself: the language of its dashboard and emails (NTF-1)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.models import Client

NOT_A_LANGUAGE = _("Choose English or Ukrainian.")


def is_language(code: str) -> bool:
    """One of the languages the site speaks (settings.LANGUAGES), exactly."""
    return code in dict(settings.LANGUAGES)


def set_language(*, client: Client, language: str) -> Client:
    """Keep the client's language; one it cannot choose is refused and changes nothing."""
    if not is_language(language):
        raise ValidationError({"language": [NOT_A_LANGUAGE]})
    if client.language != language:
        client.language = language
        client.save(update_fields=["language"])
    return client


def language_of(client: Client) -> str:
    """The language to write to the client in: its choice, else the site's."""
    return client.language or settings.LANGUAGE_CODE
