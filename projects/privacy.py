"""What projects holds on a person, for the privacy export (CMP-2): the projects it owns, its
memberships, and its own records as a subscriber of anyone's project (found by its email)."""

from projects.models import Project, ProjectMember, Subscriber


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
