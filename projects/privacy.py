"""What projects holds on a person, for the privacy export (CMP-2): the projects it owns, its
memberships, and its own records as a subscriber of anyone's project (found by its email)."""

from django.db.models import Q
from django.utils import timezone

from accounts.models import normalize_email
from projects.contacts import clean_phone
from projects.models import Contact, FunnelState, FunnelStep, OutboundMessage, Project, ProjectMember, Subscriber, SubscriberTag
from projects.services import purge_project_data


def export(client) -> dict:
    return {
        "projects_owned": [{"id": p.pk, "name": p.name, "status": p.status, "industry": p.industry, "created_at": p.created_at.isoformat()}
                           for p in Project.objects.filter(owner=client, deleted_at__isnull=True)],
        "memberships": [{"project": m.project.name, "access": m.access} for m in ProjectMember.objects.filter(client=client).select_related("project")],
        "as_subscriber": [
            {"project": s.project.name, "status": s.status, "source": s.source, "consent_at": s.consent_at.isoformat(), "consent_source": s.consent_source,
             "subscribed_at": s.subscribed_at.isoformat(), "unsubscribed_at": s.unsubscribed_at.isoformat() if s.unsubscribed_at else None}
            for s in Subscriber.objects.filter(email=client.email).select_related("project")
        ],
    }


def _anonymise(subscribers, now) -> int:
    """Subscriber records of an erased person: kept as rows (a project's history counts them),
    nothing left that names or reaches the person, never messaged again."""
    subscribers.filter(status=Subscriber.Status.ACTIVE).update(status=Subscriber.Status.UNSUBSCRIBED, unsubscribed_at=now)
    # What funnels learnt of the person (fields, tags, the steps it took) and what was sent to it.
    for model in (FunnelState, SubscriberTag, FunnelStep, OutboundMessage):
        model.objects.filter(subscriber__in=subscribers).delete()
    return subscribers.update(email="", name="", phone="", messenger_user_id="", consent_source="(erased)")


def erase_subject(*, email: str, phone: str) -> dict[str, int]:
    """CMP-2, a subscriber's erasure request: the person, found by email or phone, is anonymised in
    every project and removed from every address book. Returns how many records of each."""
    now = timezone.now()
    email = normalize_email(email) if email else ""
    phone = clean_phone(phone) if phone else ""
    if not email and not phone:
        return {"subscribers": 0, "contacts": 0}
    match = (Q(email__iexact=email) if email else Q(pk__in=[])) | (Q(phone=phone) if phone else Q(pk__in=[]))
    subscribers = _anonymise(Subscriber.objects.filter(match), now)
    contacts, _ = Contact.objects.filter(match).delete()
    return {"subscribers": subscribers, "contacts": contacts}


def erase(client, person) -> None:
    """The person's projects go with their subscribers (their data was the person's to keep); the
    person's own subscriber records in others' projects are anonymised and unsubscribed."""
    now = timezone.now()
    owned = list(Project.objects.filter(owner=client).values_list("pk", flat=True))
    for project_id in owned:
        Project.objects.filter(pk=project_id).update(name=f"Erased project {project_id}", status=Project.Status.ARCHIVED, deleted_at=now)
        purge_project_data(project_id=project_id)
    ProjectMember.objects.filter(client=client).delete()
    _anonymise(Subscriber.objects.filter(email__iexact=person.email), now)
