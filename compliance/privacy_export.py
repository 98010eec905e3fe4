"""What compliance itself holds on a person, for its own registry (CMP-2)."""

from compliance.models import Complaint, LegalAcceptance, MarketingConsent, PrivacyRequest


def export(client) -> dict:
    return {
        "legal_acceptances": [{"document": f"{a.document.kind} {a.document.version}", "accepted_at": a.accepted_at.isoformat(), "ip": a.ip}
                              for a in LegalAcceptance.objects.filter(client=client).select_related("document")],
        "privacy_requests": [{"kind": r.kind, "status": r.status, "received_at": r.received_at.isoformat(), "due_at": str(r.due_at)}
                             for r in PrivacyRequest.objects.filter(client=client)],
        "complaints": [{"kind": c.kind, "status": c.status, "received_at": c.received_at.isoformat()} for c in Complaint.objects.filter(complainant=client)],
        "marketing_consent": [{"given": m.given, "at": m.at.isoformat()} for m in MarketingConsent.objects.filter(client=client)],
    }


def erase(client, person) -> None:

    Complaint.objects.filter(complainant=client).update(identification="(erased)")
    PrivacyRequest.objects.filter(client=client).update(details="")
    LegalAcceptance.objects.filter(client=client).redact(ip=None)
    MarketingConsent.objects.filter(client=client).redact(ip=None)
