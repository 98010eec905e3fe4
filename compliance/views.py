from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render

from compliance.models import LegalDocument
from compliance.selectors import current_documents, pending_documents
from compliance.services import accept_documents


def legal_document(request, kind: str):
    if kind not in LegalDocument.Kind.values:
        raise Http404
    documents = current_documents(kinds=[kind])
    if not documents:
        raise Http404
    return render(request, "legal/document.html", {"document": documents[0]})


@login_required
def legal_accept(request):
    """The dashboard's page for versions not yet accepted (CMP-1): read them, accept them all."""
    pending = pending_documents(client=request.user)
    if request.method == "POST" and pending:
        accept_documents(client=request.user, documents=pending)
        messages.success(request, "Thank you: accepted.")
        return redirect("dashboard:home")
    return render(request, "legal/accept.html", {"documents": pending})
