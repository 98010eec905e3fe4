"""Every write to projects, participants, subscribers and address books."""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from accounts.models import Client, normalize_email
from accounts.selectors import check_may
from accounts.states import Act
from compliance.services import record
from core.exceptions import RuleRefused
from core.tasks import enqueue
from projects import access as access_rules
from projects.access import SECTIONS, Level
from projects.audit_actions import Audit
from projects.contacts import Reason, clean_email, clean_phone, is_role_address
from projects.models import (
    REVIEWED_INDUSTRIES,
    AddressBook,
    Broadcast,
    Funnel,
    Project,
    ProjectBot,
    ProjectMember,
    ProjectRestriction,
    Subscriber,
    TelegramUpdate,
)
from projects.restrictions import lift_projects, rederive, restrict_projects
from projects.selectors import ProjectAccess

FREE_PROJECT_LIMIT = 2  # TAR-2, ToU 3.4


# --- the one write guard (ACC-3, DUN-3, DEA-2) -------------------------------------------------


def check_project_writable(*, project: Project, actor) -> None:
    """Refuse a change to a project whose owner is blocked: 403 `account_blocked` (ACC-3, DUN-3);
    by a participant whose own participations are suspended: 403 `participation_suspended`
    (ACC-3); or to an archived project: 409 `project_archived` (DEA-2).
    Every project write goes through here, from the API's permission and from each service."""
    owner = project.owner
    if actor is not None and actor.pk == owner.pk:
        check_may(owner, Act.CHANGE_PROJECTS)
    if owner.is_blocked() or project.status == Project.Status.LOCKED:
        raise RuleRefused(
            "account_blocked",
            "The account that owns this project is blocked, so the project cannot be changed. "
            "Billing and the account stay reachable.",
            status=403,
        )
    if actor is not None and actor.pk != owner.pk:
        check_may_participate(actor)
    if project.status == Project.Status.ARCHIVED or project.deleted_at is not None:
        raise RuleRefused("project_archived", "This project is archived: it can be read and exported, not changed.")


def check_may_participate(client: Client) -> None:
    """ACC-3: while an `abuse` or `staff` block holds, the client's participations in others'
    projects are suspended: it neither reads nor changes them. A billing block leaves them."""
    check_may(client, Act.ACT_IN_OTHERS_PROJECTS)


def takes_new_subscribers(project: Project) -> bool:
    """Only an active project of an account in good standing records new subscribers (PRJ-2,
    DUN-2): a suspended, locked or archived one records nothing new from messengers."""
    owner = project.owner
    return (
        project.status == Project.Status.ACTIVE
        and project.deleted_at is None
        and owner.status == Client.Status.ACTIVE
        and owner.is_active
    )


# --- projects (TAR-2, PRJ-2, PRJ-7) --------------------------------------------------------------


def _review_for(industry: str, current: str = Project.Review.NOT_NEEDED) -> str:
    """The review a project needs after declaring `industry` (PRJ-7). A pending or refused review
    stays until staff decide, whatever the industry becomes: renaming it is no way around review."""
    if current in (Project.Review.PENDING, Project.Review.REFUSED):
        return current
    return Project.Review.PENDING if industry in REVIEWED_INDUSTRIES else Project.Review.NOT_NEEDED


@transaction.atomic
def create_project(*, owner: Client, name: str, industry: str = "other") -> Project:
    """Create a project owned by `owner` (PRJ-1). On Free, at most two projects per Free stint,
    counting deleted ones (TAR-2); an industry of ToU 21.6 waits for staff review (PRJ-7)."""
    owner = Client.objects.select_for_update().get(pk=owner.pk)  # two creates at once count one after the other
    check_may(owner, Act.CHANGE_PROJECTS)
    if owner.tariff == Client.Tariff.FREE:
        made = Project.objects.filter(owner=owner, created_at__gte=owner.tariff_since).count()
        if made >= FREE_PROJECT_LIMIT:
            raise RuleRefused(
                "free_project_limit",
                gettext_noop("On the Free tariff you can create %(limit)s projects, and deleting one does not "
                             "give its place back. Activate PRO to create more."), params={"limit": FREE_PROJECT_LIMIT},
            )
    project = Project(owner=owner, name=name, industry=industry, review=_review_for(industry))
    project.full_clean()
    project.save()
    record(action=Audit.CREATED, actor=owner, target=project, client=owner, details={"industry": industry, "review": project.review})
    return _hold_for_review(project)


def _hold_for_review(project: Project, *, actor: Client | None = None) -> Project:
    """PRJ-7: a project waiting for staff review, or refused, is suspended for that reason alone;
    cleared (or of an industry that needs none) the reason is lifted and any other stays."""
    if project.review in (Project.Review.PENDING, Project.Review.REFUSED):
        restrict_projects([project.pk], reason=ProjectRestriction.Reason.INDUSTRY_REVIEW, actor=actor, note="")  # the project shows its industry itself
    else:
        lift_projects([project.pk], reasons=[ProjectRestriction.Reason.INDUSTRY_REVIEW], actor=actor, note="Cleared by staff (PRJ-7).")
    project.refresh_from_db(fields=["status"])
    return project


@transaction.atomic
def update_project(*, project: Project, actor: Client, name: str | None = None, industry: str | None = None) -> Project:
    """Rename a project or change its declared industry (PRJ-7)."""
    check_project_writable(project=project, actor=actor)
    project = Project.objects.select_for_update().select_related("owner").get(pk=project.pk)
    before = {"name": project.name, "industry": project.industry, "review": project.review}
    if name is not None:
        project.name = name
    if industry is not None and industry != project.industry:
        project.industry = industry
        project.review = _review_for(industry, project.review)
    project.full_clean()
    project.save(update_fields=["name", "industry", "review"])
    after = {"name": project.name, "industry": project.industry, "review": project.review}
    if after != before:
        record(action=Audit.UPDATED, actor=actor, target=project, client=project.owner, details={"from": before, "to": after})
    return _hold_for_review(project, actor=actor)


@transaction.atomic
def delete_project(*, project: Project, actor: Client) -> Project:
    """The owner deletes a project. Its row stays (it used a Free slot, TAR-2) while its
    subscribers and address books are purged in the background."""
    check_project_writable(project=project, actor=actor)
    if actor.pk != project.owner_id:
        raise RuleRefused("owner_only", "Only the project's owner can delete it.", status=403)
    project = Project.objects.select_for_update().get(pk=project.pk)
    project.deleted_at = timezone.now()
    project.status = Project.Status.ARCHIVED
    project.save(update_fields=["deleted_at", "status"])
    record(action=Audit.DELETED, actor=actor, target=project, client=actor)
    enqueue("projects.tasks.purge_project_data", project.pk)  # by name: the tasks module imports this one
    return project


def purge_project_data(*, project_id: int, batch: int = 5_000) -> int:
    """Delete a deleted project's subscribers (with what funnels and messages kept of them),
    address books, update ids, bot, funnels and broadcasts, subscribers in batches so that a
    million rows never make one long transaction. Returns how many subscribers went."""
    if not Project.objects.filter(pk=project_id, deleted_at__isnull=False).exists():
        return 0
    removed = 0
    while ids := list(Subscriber.objects.filter(project_id=project_id).values_list("pk", flat=True)[:batch]):
        removed += Subscriber.objects.filter(pk__in=ids).delete()[0]
    AddressBook.objects.filter(project_id=project_id).delete()
    TelegramUpdate.objects.filter(project_id=project_id).delete()
    # Its bot (the token with it), funnels and broadcasts: nothing of it runs or sends again.
    for model in (ProjectBot, Broadcast, Funnel):
        model.objects.filter(project_id=project_id).delete()
    return removed


def archive_owner_projects(*, owner: Client, actor: Client | None = None) -> int:
    """Return to Free (DEA-2): the owner's live projects are archived and stop running; they are
    deleted with their subscribers once the retention window has passed (the night's retention)."""
    ids = list(Project.objects.filter(owner=owner, deleted_at__isnull=True).exclude(status=Project.Status.ARCHIVED).values_list("pk", flat=True))
    if ids:
        Project.objects.filter(pk__in=ids).update(status=Project.Status.ARCHIVED, archived_at=timezone.now())
        record(action=Audit.PROJECTS_ARCHIVED, actor=actor, client=owner, details={"projects": ids})
    return len(ids)


def purge_telegram_updates(now) -> int:
    """Update ids guard only Telegram's re-delivery, which lasts 24 hours: two days are kept."""

    return TelegramUpdate.objects.filter(received_at__lt=now - datetime.timedelta(days=2)).delete()[0]


def purge_expired_archives(*, owner: Client, before) -> list[int]:
    """Retention (DEA-2, CMP-7): the owner's projects archived before `before` are deleted with
    their subscribers, unless the owner is on PRO again. Returns their ids."""
    if owner.tariff == Client.Tariff.PRO:
        return []
    expired = Project.objects.filter(owner=owner, status=Project.Status.ARCHIVED, deleted_at__isnull=True, archived_at__lt=before)
    ids = list(expired.values_list("pk", flat=True))
    if ids:
        Project.objects.filter(pk__in=ids).update(deleted_at=timezone.now())
        for project_id in ids:
            purge_project_data(project_id=project_id)
        record(action=Audit.PROJECTS_PURGED_AFTER_RETENTION, client=owner, details={"projects": ids})
    return ids


def restore_owner_projects(*, owner: Client, actor: Client | None = None, since=None) -> int:
    """PRO again within the retention window (DEA-4): the projects archived at deactivation run
    again. Only those archived since `since` (the window's start); older ones are left for retention."""
    archived = Project.objects.filter(owner=owner, deleted_at__isnull=True, status=Project.Status.ARCHIVED)
    if since is not None:
        archived = archived.filter(archived_at__gte=since)
    ids = list(archived.values_list("pk", flat=True))
    if ids:
        Project.objects.filter(pk__in=ids).update(status=Project.Status.ACTIVE, archived_at=None)
        record(action=Audit.PROJECTS_RESTORED, actor=actor, client=owner, details={"projects": ids})
        rederive(ids, actor=actor)  # a reason that held when it was archived holds again (PRJ-2)
    return len(ids)


def complaint_ref(complaint_id: int) -> str:
    return f"complaint:{complaint_id}"


def stop_sending_for_complaint(sender, *, project_id: int, complaint_id: int, **kwargs) -> None:
    """A spam complaint suspends the project until staff decide (CMP-4, ToU 21.7), beside any
    other reason it is suspended for: paying a debt does not lift it (DUN-4)."""
    project = Project.objects.select_related("owner").filter(pk=project_id).first()
    if project is None:
        return
    if restrict_projects([project.pk], reason=ProjectRestriction.Reason.COMPLAINT, ref=complaint_ref(complaint_id),
                         note=f"Spam complaint #{complaint_id}."):
        record(action=Audit.SUSPENDED_FOR_COMPLAINT, client=project.owner, target=project, details={"complaint": complaint_id})


def after_spam_complaint_decided(sender, *, project_id: int, complaint_id: int, upheld: bool, **kwargs) -> None:
    """A rejected spam complaint lifts its suspension (any other reason stays); an upheld one
    leaves it for staff to act on."""
    project = Project.objects.select_related("owner").filter(pk=project_id).first()
    if project is None or upheld:
        return
    if lift_projects([project.pk], reasons=[ProjectRestriction.Reason.COMPLAINT], ref=complaint_ref(complaint_id),
                     note=f"Spam complaint #{complaint_id} rejected."):
        record(action=Audit.COMPLAINT_LIFTED, client=project.owner, target=project, details={"complaint": complaint_id})


def suspend_for_staff(*, project_ids: list[int], actor: Client, note: str) -> list[int]:
    """Staff suspend projects (PRJ-2) beside any other reason they hold; the note says why."""
    if not (note or "").strip():
        raise ValidationError({"note": ["Say why the projects are suspended."]})
    with transaction.atomic():
        suspended = restrict_projects(project_ids, reason=ProjectRestriction.Reason.STAFF, actor=actor, note=note.strip())
        for project in Project.objects.filter(pk__in=suspended).select_related("owner"):
            record(action=Audit.STAFF_SUSPENDED, actor=actor, target=project, client=project.owner, details={"note": note.strip()})
    return suspended


def lift_staff_suspension(*, project_ids: list[int], actor: Client, note: str = "") -> list[int]:
    """Staff lift their own suspension, and only it (PRJ-2): dunning, complaints and review stay."""
    with transaction.atomic():
        lifted = lift_projects(project_ids, reasons=[ProjectRestriction.Reason.STAFF], actor=actor, note=note)
        for project in Project.objects.filter(pk__in=lifted).select_related("owner"):
            record(action=Audit.STAFF_SUSPENSION_LIFTED, actor=actor, target=project, client=project.owner, details={"note": note})
    return lifted


@transaction.atomic
def review_project(*, project: Project, actor: Client, cleared: bool, note: str = "") -> Project:
    """Staff clear a project of a reviewed industry for sending, or refuse it (PRJ-7)."""
    project = Project.objects.select_for_update().get(pk=project.pk)
    project.review = Project.Review.CLEARED if cleared else Project.Review.REFUSED
    project.reviewed_at = timezone.now()
    project.reviewed_by = actor
    project.save(update_fields=["review", "reviewed_at", "reviewed_by"])
    record(
        action=Audit.REVIEW_CLEARED if cleared else Audit.REVIEW_REFUSED,
        actor=actor, target=project, client=project.owner, details={"industry": project.industry, "note": note},
    )
    return _hold_for_review(project, actor=actor)


# --- participants (PRJ-1) --------------------------------------------------------------------------


def _clean_access(access: dict) -> dict[str, str]:
    if not isinstance(access, dict):
        raise ValidationError({"access": ["Give a level per section, e.g. {\"subscribers\": \"view\"}."]})
    unknown = sorted(set(access) - set(SECTIONS))
    bad = sorted(s for s, level in access.items() if s in SECTIONS and level not in Level.values)
    if unknown or bad:
        errors = [f"Unknown section {s!r}; sections are {', '.join(SECTIONS)}." for s in unknown]
        errors += [f"Unknown level for {s!r}; levels are none, view and full." for s in bad]
        raise ValidationError({"access": errors})
    return {section: access.get(section, Level.NONE) for section in SECTIONS}


def _check_may_grant(granter: ProjectAccess, access: dict[str, str]) -> None:
    """A participant with full access_control grants only what it holds itself (PRJ-1)."""
    if not granter.allows("access_control", Level.FULL):
        raise RuleRefused("permission_denied", "You need full access control to manage participants.", status=403)
    if not access_rules.within(access, granter.access):
        raise RuleRefused("access_not_held", "You can only grant access that you hold yourself.")


@transaction.atomic
def add_member(*, granter: ProjectAccess, email: str, access: dict, actor: Client) -> ProjectMember:
    """Invite an existing client to a project with a level per section (PRJ-1)."""
    project = granter.project
    check_project_writable(project=project, actor=actor)
    levels = _clean_access(access)
    _check_may_grant(granter, levels)
    invitee = Client.objects.filter(email=normalize_email(email), is_active=True, is_staff=False).first()
    if invitee is None:
        raise ValidationError({"email": ["No client has this email; they need an account first."]})
    if invitee.pk == project.owner_id:
        raise RuleRefused("owner_rights", "The owner holds every right in its project already; nobody can change them.")
    if ProjectMember.objects.filter(project=project, client=invitee).exists():
        raise RuleRefused("already_member", "This client takes part in the project already; change its access instead.")
    member = ProjectMember.objects.create(project=project, client=invitee, granted_by=actor, **levels)
    record(action=Audit.MEMBER_ADDED, actor=actor, target=project, client=project.owner, details={"member": invitee.email, "access": levels})
    return member


@transaction.atomic
def change_member(*, granter: ProjectAccess, member: ProjectMember, access: dict, actor: Client) -> ProjectMember:
    """Change a participant's levels: within what the granter holds, and never over a participant
    holding more than the granter (nobody takes rights it could not give)."""
    project = granter.project
    check_project_writable(project=project, actor=actor)
    levels = _clean_access(access)
    _check_may_grant(granter, levels)
    if not access_rules.within(member.access, granter.access):
        raise RuleRefused("access_not_held", "This participant holds access that you do not; only the owner can change it.")
    before = member.access
    for section, level in levels.items():
        setattr(member, section, level)
    member.save(update_fields=list(SECTIONS))
    record(
        action=Audit.MEMBER_CHANGED, actor=actor, target=project, client=project.owner,
        details={"member": member.client.email, "from": before, "to": levels},
    )
    return member


@transaction.atomic
def remove_member(*, granter: ProjectAccess, member: ProjectMember, actor: Client) -> None:
    """Remove a participant. Anyone may leave a project; otherwise as `change_member`."""
    project = granter.project
    leaving = member.client_id == actor.pk
    if not leaving:
        check_project_writable(project=project, actor=actor)
        _check_may_grant(granter, {})
        if not access_rules.within(member.access, granter.access):
            raise RuleRefused("access_not_held", "This participant holds access that you do not; only the owner can remove it.")
    email = member.client.email
    member.delete()
    record(action=Audit.MEMBER_REMOVED, actor=actor, target=project, client=project.owner, details={"member": email, "left": leaving})


# --- subscribers (PRJ-3, PRJ-5) ----------------------------------------------------------------


def clean_person(*, name: str, email: str, phone: str) -> dict:
    """A person as the API and the pop-up form give it, cleaned (PRJ-5: one email and phone
    spelling, no role address), or ValidationError field by field."""
    errors = {}
    cleaned = {"name": (name or "").strip(), "email": "", "phone": ""}
    if (email or "").strip():
        try:
            cleaned["email"] = clean_email(email)
        except ValidationError:
            errors["email"] = ["Enter a valid email address."]
        else:
            if is_role_address(cleaned["email"]):
                errors["email"] = [Reason.SENTENCES[Reason.ROLE_ADDRESS]]
    if (phone or "").strip():
        try:
            cleaned["phone"] = clean_phone(phone)
        except ValidationError:
            errors["phone"] = [Reason.SENTENCES[Reason.INVALID_PHONE]]
    if not errors and not cleaned["name"] and not cleaned["email"] and not cleaned["phone"]:
        errors["name"] = ["Give a name, an email address or a phone number."]
    if errors:
        raise ValidationError(errors)
    return cleaned


def find_person(project: Project, person: dict):
    """The project's subscriber with the same email or phone (cleaned), locked; the one rule by
    which the API and the pop-up form know a person again (the unique constraints back it)."""
    queryset = Subscriber.objects.select_for_update().filter(project=project)
    for key in ("email", "phone"):
        if person[key] and (found := queryset.filter(**{key: person[key]}).first()):
            return found
    return None


@transaction.atomic
def add_subscriber(*, project: Project, actor: Client, name: str = "", email: str = "", phone: str = "", consent: bool) -> Subscriber:
    """The client adds one subscriber who consented (PRJ-3). Someone who unsubscribed is not
    brought back by the client: only the person can subscribe again (ToU 12.5)."""
    check_project_writable(project=project, actor=actor)
    if consent is not True:
        raise ValidationError({"consent": ["Confirm that this person consented to receive messages."]})
    person = clean_person(name=name, email=email, phone=phone)
    if existing := find_person(project, person):
        if existing.status == Subscriber.Status.UNSUBSCRIBED:
            raise RuleRefused("subscriber_unsubscribed", "This person unsubscribed; only they can subscribe again.")
        raise RuleRefused("subscriber_exists", "A subscriber with this email or phone is already in the project.")
    now = timezone.now()
    return Subscriber.objects.create(
        project=project, **person, source=Subscriber.Source.API, consent_at=now,
        consent_source=f"Stated through the API by client {actor.pk}", subscribed_at=now,
    )


@transaction.atomic
def unsubscribe(*, subscriber: Subscriber, actor: Client | None) -> Subscriber:
    """A subscriber leaves and is never messaged again (PRJ-3), by a participant's hand or by
    staff (who are not held back by a block, and are audited). Unsubscribing twice changes nothing."""
    if actor is not None and not actor.is_staff:
        check_project_writable(project=subscriber.project, actor=actor)
    subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
    if subscriber.status == Subscriber.Status.ACTIVE:
        subscriber.status = Subscriber.Status.UNSUBSCRIBED
        subscriber.unsubscribed_at = timezone.now()
        subscriber.save(update_fields=["status", "unsubscribed_at"])
        if actor is not None and actor.is_staff:
            record(action=Audit.SUBSCRIBER_UNSUBSCRIBED, actor=actor, target=subscriber.project, details={"subscriber": subscriber.pk})
    return subscriber


# --- address books (PRJ-5) ------------------------------------------------------------------------


@transaction.atomic
def create_address_book(*, project: Project, actor: Client, name: str) -> AddressBook:
    check_project_writable(project=project, actor=actor)
    book = AddressBook(project=project, name=name)
    book.full_clean()
    book.save()
    record(action=Audit.ADDRESS_BOOK_CREATED, actor=actor, target=book, client=project.owner)
    return book
