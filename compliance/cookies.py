"""Who a cookie answer belongs to (CMP-8), for the API and the site's banner alike: a signed-in
client's is its account's; a visitor's is kept under a random id in its own cookie, and a cookie
that is not one we made gets a new id (and reads nothing)."""

import re
import secrets

VISITOR_COOKIE = "cookie_consent_id"
VISITOR_ID = re.compile(r"[A-Za-z0-9_-]{32}")  # what secrets.token_urlsafe(24) makes
YEAR = 365 * 24 * 3600


def visitor_of(request) -> str | None:
    """The visitor's id (None for a signed-in client): its cookie when it is one we made."""
    if getattr(request, "user", None) is not None and request.user.is_authenticated:
        return None
    sent = request.COOKIES.get(VISITOR_COOKIE, "")
    return sent if VISITOR_ID.fullmatch(sent) else secrets.token_urlsafe(24)


def keep_visitor(response, visitor: str | None) -> None:
    if visitor is not None:
        response.set_cookie(VISITOR_COOKIE, visitor, max_age=YEAR, samesite="Lax", httponly=True)
