"""What projects holds on a person, for the privacy export (CMP-2): the projects it owns, its
memberships, and its own records as a subscriber of anyone's project (found by its email)."""

from django.utils import timezone

from projects.models import Project, ProjectMember, Subscriber
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


def erase(client, person) -> None:
    """The person's projects go with their subscribers (their data was the person's to keep); the
    person's own subscriber records in others' projects are anonymised and unsubscribed."""


    now = timezone.now()
    owned = list(Project.objects.filter(owner=client).values_list("pk", flat=True))
    for project_id in owned:
        Project.objects.filter(pk=project_id).update(name=f"Erased project {project_id}", status=Project.Status.ARCHIVED, deleted_at=now)
        purge_project_data(project_id=project_id)
    ProjectMember.objects.filter(client=client).delete()
    Subscriber.objects.filter(email__iexact=person.email).update(
        email="", name="", phone="", messenger_user_id="", status=Subscriber.Status.UNSUBSCRIBED, unsubscribed_at=now,
        consent_source="(erased)",
    )
