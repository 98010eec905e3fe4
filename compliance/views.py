import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from compliance.cookies import keep_visitor, visitor_of
from compliance.models import LegalDocument, PrivacyExport
from compliance.selectors import current_documents, pending_documents
from compliance.services import accept_documents, set_cookie_consent


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
        messages.success(request, _("Thank you: accepted."))
        return redirect("dashboard:home")
    return render(request, "legal/accept.html", {"documents": pending})


def privacy_download(request, token: str):
    """The export behind an emailed link (CMP-2); 404 once expired or unknown."""



    export = PrivacyExport.objects.filter(token=token, expires_at__gt=timezone.now()).first()
    if export is None:
        raise Http404
    PrivacyExport.objects.filter(pk=export.pk, downloaded_at__isnull=True).update(downloaded_at=timezone.now())
    response = HttpResponse(json.dumps(export.document, indent=2), content_type="application/json")
    response["Content-Disposition"] = 'attachment; filename="my-data.json"'
    return response


@require_POST
def cookie_choice(request):
    """The banner's answer (CMP-8): only the categories ticked; essential cookies always."""
    visitor = visitor_of(request)
    set_cookie_consent(visitor=visitor, client=request.user if request.user.is_authenticated else None,
                       preference=request.POST.get("preference") == "on", analytics=request.POST.get("analytics") == "on",
                       marketing=request.POST.get("marketing") == "on")
    target = request.POST.get("next", "/")
    response = redirect(target if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}) else "/")
    keep_visitor(response, visitor)
    return response
