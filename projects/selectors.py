"""Reads of projects, shared by the API, the admin and (later) the dashboard and the night."""

import datetime
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count, Exists, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Client, normalize_email
from accounts.selectors import participation_blocked
from projects import access as access_rules
from projects.access import OWNER_ACCESS, SECTIONS, Level
from projects.contacts import clean_phone
from projects.models import AddressBook, Broadcast, Contact, Funnel, Project, ProjectBot, ProjectMember, ProjectRestriction, Subscriber


@dataclass(frozen=True)
class ProjectAccess:
    """What one client may do in one project: the owner holds every section in full (PRJ-1)."""

    project: Project
    client_id: int
    is_owner: bool
    access: dict[str, str]
    member: ProjectMember | None = None

    def allows(self, section: str, level: str) -> bool:
        return access_rules.allows(self.access, section, level)


def _member_sees_something() -> Q:
    return Q(*[~Q(**{section: Level.NONE}) for section in SECTIONS], _connector=Q.OR)


def project_access(*, client, project_id: int) -> ProjectAccess | None:
    """The client's access to a live project, or None when it has none: then the project does not
    exist for it (404, never 403, so that nobody learns of another client's project)."""
    project = Project.objects.select_related("owner").filter(pk=project_id, deleted_at__isnull=True).first()
    if project is None:
        return None
    if project.owner_id == client.pk:
        return ProjectAccess(project=project, client_id=client.pk, is_owner=True, access=dict(OWNER_ACCESS))
    member = ProjectMember.objects.filter(project=project, client_id=client.pk).first()
    if member is None or not access_rules.sees_anything(member.access):
        return None
    return ProjectAccess(project=project, client_id=client.pk, is_owner=False, access=member.access, member=member)


def active_subscribers_of_project() -> Subquery:
    """A correlated count for an annotation: evaluated only for the rows a page shows, from the
    partial index of active subscribers."""
    counted = (
        Subscriber.objects.filter(project=OuterRef("pk"), status=Subscriber.Status.ACTIVE)
        .order_by()
        .values("project")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def visible_projects(*, client) -> QuerySet[Project]:
    """The live projects a client owns or takes part in, with their active-subscriber count and
    the client's own membership and the reasons that hold prefetched (`my_membership`, `holding`):
    three queries for any number of rows (a blocked client's restrictions are one more)."""
    takes_part = ProjectMember.objects.filter(_member_sees_something(), project=OuterRef("pk"), client_id=client.pk)
    # ACC-3: a client whose participations are suspended sees only its own projects.
    mine = Q(owner_id=client.pk) if participation_blocked(client) else Q(owner_id=client.pk) | Q(Exists(takes_part))
    return (
        Project.objects.filter(mine, deleted_at__isnull=True)
        .annotate(active_subscribers=active_subscribers_of_project())
        .prefetch_related(Prefetch("members", queryset=ProjectMember.objects.filter(client_id=client.pk), to_attr="my_membership"),
                          _holding_reasons())
    )


def access_in_listing(project: Project, *, client) -> ProjectAccess:
    """The access of a project row from `visible_projects`, without another query."""
    if project.owner_id == client.pk:
        return ProjectAccess(project=project, client_id=client.pk, is_owner=True, access=dict(OWNER_ACCESS))
    member = project.my_membership[0]
    return ProjectAccess(project=project, client_id=client.pk, is_owner=False, access=member.access, member=member)


def project_with_count(*, project_id: int) -> Project:
    return Project.objects.annotate(active_subscribers=active_subscribers_of_project()).prefetch_related(_holding_reasons()).get(pk=project_id)


def _holding_reasons() -> Prefetch:
    """The project's restrictions that hold (PRJ-2), as `holding`, oldest first."""
    return Prefetch("restrictions", queryset=ProjectRestriction.objects.filter(lifted_at__isnull=True).order_by("starts_at", "pk"), to_attr="holding")


def members_of(*, project: Project) -> QuerySet[ProjectMember]:
    return ProjectMember.objects.filter(project=project).select_related("client")


def subscribers_of(*, project: Project) -> QuerySet[Subscriber]:
    return Subscriber.objects.filter(project=project)


def address_books_of(*, project: Project) -> QuerySet[AddressBook]:
    return AddressBook.objects.filter(project=project).annotate(contact_count=Count("contacts"))


def address_book_of(*, project: Project, book_id: int) -> AddressBook | None:
    book = AddressBook.objects.filter(project=project, pk=book_id).first()
    if book is not None:
        book.project = project  # already loaded, with its owner
    return book


def contacts_of(*, address_book: AddressBook) -> QuerySet[Contact]:
    return Contact.objects.filter(address_book=address_book)


def project_statistics(*, project: Project) -> dict:
    """Subscriber figures of one project, in one aggregate query."""
    return Subscriber.objects.filter(project=project).aggregate(
        active_subscribers=Count("pk", filter=Q(status=Subscriber.Status.ACTIVE)),
        unsubscribed=Count("pk", filter=Q(status=Subscriber.Status.UNSUBSCRIBED)),
        telegram=Count("pk", filter=Q(status=Subscriber.Status.ACTIVE, messenger=Subscriber.Messenger.TELEGRAM)),
    )


def active_subscribers_of_owner(*, owner_id: int) -> int:
    """Active subscribers over all live projects of one owner (TAR-3: whatever their number)."""
    return Subscriber.objects.filter(
        status=Subscriber.Status.ACTIVE, project__owner_id=owner_id, project__deleted_at__isnull=True
    ).count()


_ACTIVE_BY_OWNER = (
    f"SELECT p.owner_id, count(*) FROM {Subscriber._meta.db_table} s JOIN {Project._meta.db_table} p ON p.id = s.project_id "  # noqa: S608 (names from the models)
    "WHERE s.status = %s AND p.deleted_at IS NULL AND p.status <> %s GROUP BY p.owner_id"
)


def active_subscribers_by_owner() -> dict[int, int]:
    """Active subscribers (TAR-1, TAR-3) per owning client over all its projects, in one aggregate
    query on the partial index; clients with none are absent. Deleted and archived projects count
    for nothing (TAR-5: an archived project sends nothing). Written out: the night reads one row
    per client (100,000), and the ORM's rows cost a third more than the query (bench/README.md)."""
    with connection.cursor() as cursor:
        cursor.execute(_ACTIVE_BY_OWNER, [Subscriber.Status.ACTIVE, Project.Status.ARCHIVED])
        return dict(cursor.fetchall())


_WEBHOOK_LOOKUP = (
    f"SELECT p.id, p.owner_id, p.status, p.telegram_secret, p.deleted_at, c.status, c.is_active, "
    f"EXISTS (SELECT 1 FROM {ProjectBot._meta.db_table} b WHERE b.project_id = p.id) "
    f"FROM {Project._meta.db_table} p JOIN {Client._meta.db_table} c ON c.id = p.owner_id WHERE p.telegram_webhook_token = %s"
)


def project_for_webhook(*, token: str) -> Project | None:
    """The project of a webhook path with what the webhook needs of it and of its owner, in one
    query written out: on this hot path the ORM's compiling costs more than the query. The
    instances hold only those fields (in model order); any other loads on access, as `.only()`."""
    with connection.cursor() as cursor:
        cursor.execute(_WEBHOOK_LOOKUP, [token])
        row = cursor.fetchone()
    if row is None:
        return None
    project_id, owner_id, status, secret, deleted_at, owner_status, owner_active, has_bot = row
    if deleted_at is not None and timezone.is_naive(deleted_at):  # SQLite keeps UTC without an offset
        deleted_at = timezone.make_aware(deleted_at, datetime.UTC)
    project = Project.from_db(connection.alias, ["id", "owner_id", "status", "telegram_secret", "deleted_at"], [project_id, owner_id, status, secret, deleted_at])
    project.owner = Client.from_db(connection.alias, ["id", "status", "is_active"], [owner_id, owner_status, bool(owner_active)])
    project.has_bot = bool(has_bot)  # only a project with a bot runs funnels: nobody else could answer
    return project


def project_for_public_key(*, public_key: str) -> Project | None:
    return Project.objects.select_related("owner").filter(public_key=public_key, deleted_at__isnull=True).first()


_EMAILS = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_PHONES = re.compile(r"\+\d[\d ().-]{6,20}\d")
_HANDLES = re.compile(r"(?<![\w.@])@(\w{3,64})")


def complainant_knows_project(project_id: int, identification: str, complainant) -> bool:
    """CMP-4: whether whoever complains is a subscriber or a contact of the project: an email,
    phone number or messenger name in the identification (or the complainant's account email)
    matches one of them."""
    text = (identification or "")[:2000]
    emails = {e.lower() for e in _EMAILS.findall(text)}
    if getattr(complainant, "is_authenticated", False):
        emails.add(complainant.email.lower())
    phones = {"+" + re.sub(r"\D", "", p) for p in _PHONES.findall(text)}
    handles = {h.lower() for h in _HANDLES.findall(text)}
    emails, phones, handles = set(list(emails)[:20]), set(list(phones)[:20]), set(list(handles)[:20])  # a hostile text stays one query
    people = Q(email__in=emails) if emails else Q(pk__in=[])
    if phones:
        people |= Q(phone__in=phones)
    for handle in handles:
        people |= Q(name__iexact=handle) | Q(name__iexact=f"@{handle}")
    contacts = Q(email__in=emails) if emails else Q(pk__in=[])
    if phones:
        contacts |= Q(phone__in=phones)
    return (Subscriber.objects.filter(project_id=project_id).filter(people).exists()
            or Contact.objects.filter(address_book__project_id=project_id).filter(contacts).exists())


def project_exists(project_id: int) -> bool:
    return Project.objects.filter(pk=project_id, deleted_at__isnull=True).exists()


def search_subscribers(*, project: Project, term: str) -> QuerySet[Subscriber]:
    """The dashboard's one search box: an exact email, or a phone in international form; the
    indexed columns only, never a LIKE over a million rows. Anything else matches nobody."""
    term = (term or "").strip()
    subscribers = subscribers_of(project=project)
    if not term:
        return subscribers
    if "@" in term:
        return subscribers.filter(email=normalize_email(term))
    try:
        return subscribers.filter(phone=clean_phone(term))
    except ValidationError:
        return subscribers.none()


# --- funnels and sending (PRJ-6, MSG-1) ----------------------------------------------------------------


def funnels_of(*, project: Project) -> QuerySet[Funnel]:
    return Funnel.objects.filter(project=project).prefetch_related("blocks")


def funnel_of(*, project: Project, funnel_id: int) -> Funnel | None:
    return funnels_of(project=project).filter(pk=funnel_id).first()


def broadcasts_of(*, project: Project) -> QuerySet[Broadcast]:
    return Broadcast.objects.filter(project=project)


def broadcast_of(*, project: Project, broadcast_id: int) -> Broadcast | None:
    return broadcasts_of(project=project).filter(pk=broadcast_id).first()


def bot_of(*, project_id: int) -> ProjectBot | None:
    return ProjectBot.objects.filter(project_id=project_id).first()
