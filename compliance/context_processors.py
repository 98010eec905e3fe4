from compliance.selectors import pending_documents


def legal_notice(request):
    """The dashboard's notice of legal documents the signed-in client has not accepted (CMP-1)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.is_staff or request.path.startswith("/admin/"):
        return {}
    return {"pending_legal_documents": pending_documents(client=user)}
