from compliance.cookies import VISITOR_COOKIE, VISITOR_ID
from compliance.selectors import cookie_consent_of, pending_documents


def legal_notice(request):
    """The dashboard's notice of legal documents the signed-in client has not accepted (CMP-1)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.is_staff or request.path.startswith("/admin/"):
        return {}
    return {"pending_legal_documents": pending_documents(client=user)}


def cookie_banner(request):
    """CMP-8: the banner asks by category until the visitor (or the signed-in client) answers."""
    if request.path.startswith("/admin/"):
        return {}
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    sent = request.COOKIES.get(VISITOR_COOKIE, "")
    visitor = None if signed_in else (sent if VISITOR_ID.fullmatch(sent) else None)
    if not signed_in and visitor is None:
        return {"ask_cookies": True}
    return {"ask_cookies": cookie_consent_of(visitor=visitor, client=user if signed_in else None) is None}
