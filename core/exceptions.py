class RuleRefused(Exception):
    """A business rule refuses the action. Raised by services before anything is written.

    `code` is the rule's snake_case name (API.md: 409 `{"code", "detail"}`); `detail` is a sentence
    for a person, a plain English str (marked with `gettext_noop` where it is a constant), translated
    where it is shown: `core.api.exception_handler` for the API, `core.admin.refusal` for the
    dashboard and the admin. A detail with no translation (an f-string's) is shown as it is.
    """

    def __init__(self, code: str, detail: str, *, status: int = 409, retry_after: int | None = None, headers: dict | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        # A few refusals are not conflicts: a blocked account is 403, a lockout 429 (API.md).
        self.status = status
        self.retry_after = retry_after
        # Response headers the refusal carries, e.g. the `Idempotency-Key` to retry a payment with.
        self.headers = dict(headers or {})
