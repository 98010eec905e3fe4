"""The reasons a project does not run, and the status derived from them (PRJ-2).

A project is `suspended` while any of its restrictions holds (dunning, a spam complaint, industry
review, staff), `locked` while its owner's billing block does (DUN-3), `active` when none does;
each is set and lifted on its own. Archived and deleted projects keep their status: their
restrictions are kept for when they run again. A few statements for any number of projects (a
night chunk's owners, or one complaint's project).
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from compliance.audit import audit_row, record_rows
from core.sql import update_rows
from projects.audit_actions import Audit
from projects.models import Project, ProjectRestriction

Reason = ProjectRestriction.Reason


def derive_status(current: str, reasons: set[str]) -> str:
    if current == Project.Status.ARCHIVED:
        return current
    if Reason.BILLING_LOCK in reasons:
        return Project.Status.LOCKED
    return Project.Status.SUSPENDED if reasons else Project.Status.ACTIVE


def _actor(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def _owners_projects(owner_ids: list[int]) -> list[int]:
    if not owner_ids:
        return []
    return list(Project.objects.filter(owner_id__any_of=owner_ids, deleted_at__isnull=True).order_by("pk").values_list("pk", flat=True))


def rederive(project_ids: list[int], *, actor=None) -> int:
    """Bring the projects' status in line with their restrictions; one audit entry per owner whose
    projects moved, by the status they moved to. Returns how many moved."""
    if not project_ids:
        return 0
    reasons: dict[int, set[str]] = {pk: set() for pk in project_ids}
    for project_id, reason in ProjectRestriction.objects.filter(project_id__any_of=project_ids, lifted_at__isnull=True).values_list("project_id", "reason"):
        reasons[project_id].add(reason)
    moved, by_owner = [], {}
    for project in Project.objects.select_for_update().filter(pk__any_of=project_ids).only("pk", "owner_id", "status").order_by("pk"):
        status = derive_status(project.status, reasons[project.pk])
        if status != project.status:
            project.status = status
            moved.append(project)
            by_owner.setdefault((project.owner_id, status), []).append(project.pk)
    update_rows(Project, moved, ["status"])
    record_rows([audit_row(action=Audit.PROJECTS_STATUS[status], actor=_actor(actor), client_id=owner_id, details={"projects": pks})
                 for (owner_id, status), pks in sorted(by_owner.items())])
    return len(moved)


@transaction.atomic
def restrict_projects(project_ids: list[int], *, reason: str, ref: str = "", actor=None, note: str = "", now: datetime | None = None) -> list[int]:
    """Add a restriction to projects that do not hold it yet; returns those."""
    if not project_ids:
        return []
    now = now or timezone.now()
    actor = _actor(actor)
    holding = set(ProjectRestriction.objects.filter(project_id__any_of=project_ids, reason=reason, ref=ref, lifted_at__isnull=True)
                  .values_list("project_id", flat=True))
    new = [pk for pk in sorted(set(project_ids)) if pk not in holding]
    ProjectRestriction.objects.bulk_create(
        [ProjectRestriction(project_id=pk, reason=reason, ref=ref, starts_at=now, set_by=actor, note=note) for pk in new]
    )
    rederive(new, actor=actor)
    return new


@transaction.atomic
def lift_projects(project_ids: list[int], *, reasons: list[str], ref: str | None = None, actor=None, note: str = "",
                  now: datetime | None = None) -> list[int]:
    """Lift the projects' restrictions for `reasons` (with `ref`, only that one), and only those;
    returns the projects that had any."""
    if not project_ids:
        return []
    now = now or timezone.now()
    actor = _actor(actor)
    rows = ProjectRestriction.objects.filter(project_id__any_of=project_ids, reason__in=reasons, lifted_at__isnull=True)
    if ref is not None:
        rows = rows.filter(ref=ref)
    lifted = sorted(set(rows.values_list("project_id", flat=True)))
    rows.update(lifted_at=now, lifted_by=actor, lift_note=note)
    rederive(lifted, actor=actor)
    return lifted


def restrict_owners_projects(owner_ids: list[int], *, reason: str, actor=None, note: str = "", now: datetime | None = None) -> list[int]:
    """Dunning restricts an owner's projects together (DUN-2 `dunning`, DUN-3 `billing_lock`)."""
    projects = _owners_projects(owner_ids)
    return restrict_projects(projects, reason=reason, actor=actor, note=note, now=now) if projects else []


def lift_owners_projects(owner_ids: list[int], *, reasons: list[str], actor=None, note: str = "", now: datetime | None = None) -> list[int]:
    """DUN-4: paid, an owner's dunning restrictions are lifted, and only they."""
    projects = _owners_projects(owner_ids)
    if not projects:
        return []
    return lift_projects(projects, reasons=reasons, actor=actor, note=note, now=now)

