from django.utils import timezone

from compliance.models import LegalDocument


def current_documents(*, kinds: list[str] | None = None) -> list[LegalDocument]:
    """The version in force of each kind: the newest already published."""
    qs = LegalDocument.objects.filter(published_at__lte=timezone.now())
    if kinds is not None:
        qs = qs.filter(kind__in=kinds)
    current: dict[str, LegalDocument] = {}
    for document in qs.order_by("kind", "-published_at", "-id"):
        current.setdefault(document.kind, document)
    return list(current.values())
