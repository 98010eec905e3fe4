from django.utils import timezone

from compliance.models import Complaint, CookieConsent, LegalAcceptance, LegalDocument, MarketingConsent, PrivacyRequest


def current_documents(*, kinds: list[str] | None = None) -> list[LegalDocument]:
    """The version in force of each kind: the newest already published."""
    qs = LegalDocument.objects.filter(published_at__lte=timezone.now())
    if kinds is not None:
        qs = qs.filter(kind__in=kinds)
    current: dict[str, LegalDocument] = {}
    for document in qs.order_by("kind", "-published_at", "-id"):
        current.setdefault(document.kind, document)
    return list(current.values())


def pending_documents(*, client) -> list[LegalDocument]:
    """Current versions the client has not accepted yet (the dashboard's notice, CMP-1)."""
    current = current_documents()
    accepted = set(LegalAcceptance.objects.filter(client=client, document__in=current).values_list("document_id", flat=True))
    return [d for d in current if d.pk not in accepted]


def documents_for(*, client) -> list[dict]:
    """The versions in force and whether the client accepted each (CMP-1, the API's list)."""
    current = current_documents()
    accepted = set(LegalAcceptance.objects.filter(client=client, document__in=current).values_list("document_id", flat=True))
    return [
        {"id": d.pk, "kind": d.kind, "version": d.version, "title": d.title, "published_at": d.published_at, "accepted": d.pk in accepted}
        for d in current
    ]


def complaints_of(*, client):

    return Complaint.objects.filter(complainant=client).order_by("-received_at", "-id")


def privacy_requests_of(*, client):

    return PrivacyRequest.objects.filter(client=client).order_by("-received_at", "-id")


def marketing_consent_of(*, client):

    return MarketingConsent.objects.filter(client=client).first()


def cookie_consent_of(*, visitor: str | None, client=None) -> CookieConsent | None:
    """CMP-8: a signed-in client's answer is its account's; a visitor's is found only by its own
    id, and never one that belongs to an account."""
    if getattr(client, "is_authenticated", False):
        return CookieConsent.objects.filter(client=client).first()
    return CookieConsent.objects.filter(visitor=visitor, client__isnull=True).first() if visitor else None
