from django.utils import translation
from django.utils.functional import lazy


class RuleRefused(Exception):
    """A business rule refuses the action. Raised by services before anything is written.

    `code` is the rule's snake_case name (API.md: 409 `{"code", "detail"}`); `detail` is a sentence
    for a person, a plain English str (marked with `gettext_noop` where it is a constant), or a
    template of `%(name)s` with its `params` (values, or lazy translations). `detail` is the English
    sentence; `sentence()` the same in the active language, as `core.api.exception_handler` (the
    API) and `core.admin.refusal` (the dashboard and the admin) show it. A detail with no
    translation is shown as it is.
    """

    def __init__(self, code: str, detail: str, *, params: dict | None = None, status: int = 409, retry_after: int | None = None,
                 headers: dict | None = None) -> None:
        self.template, self.params = detail, dict(params or {})
        if self.params:
            with translation.override("en"):
                detail = detail % {name: str(value) for name, value in self.params.items()}
        super().__init__(detail)
        self.code = code
        self.detail = detail
        # A few refusals are not conflicts: a blocked account is 403, a lockout 429 (API.md).
        self.status = status
        self.retry_after = retry_after
        # Response headers the refusal carries, e.g. the `Idempotency-Key` to retry a payment with.
        self.headers = dict(headers or {})

    def sentence(self) -> str:
        """The detail in the active language. Never gettext(""): that is the catalogue's header."""
        if not self.template:
            return self.detail
        text = translation.gettext(self.template)
        return text % {name: str(value) for name, value in self.params.items()} if self.params else text


# A translated label inside a sentence (a refusal's param): lower-case, in the language it is read in.
lowered = lazy(lambda text: str(text).lower(), str)
