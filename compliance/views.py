from django.http import Http404
from django.shortcuts import render

from compliance.models import LegalDocument
from compliance.selectors import current_documents


def legal_document(request, kind: str):
    if kind not in LegalDocument.Kind.values:
        raise Http404
    documents = current_documents(kinds=[kind])
    if not documents:
        raise Http404
    return render(request, "legal/document.html", {"document": documents[0]})
