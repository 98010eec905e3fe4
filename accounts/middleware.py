"""The dashboard speaks the signed-in client's chosen language; until it chooses, the browser's
(LocaleMiddleware, before this one, read the switch's cookie or Accept-Language)."""

from django.utils import translation


class ClientLanguageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        language = getattr(user, "language", "") if user is not None and user.is_authenticated else ""
        if language and language != request.LANGUAGE_CODE:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)
