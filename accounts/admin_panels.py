"""The client's whole story on its admin page (issue 16), gathered without accounts importing the
apps to its right (DESIGN.md, as the privacy registry does): each app registers, at start-up, the
panels that read what it holds on a client, and `ClientAdmin`'s change view shows them in order.

A panel is `function(client) -> dict` for templates/admin/accounts/client/panel.html:
`{"facts": [Fact], "lists": [Listing]}`, each item a link to its own admin page, each list the
last `LIMIT` rows with a link to the filtered change list. A panel only reads, in a fixed number
of queries whatever the client holds. Accounts' own panels and compliance's (accounts may import
compliance) are registered at the bottom of this module."""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _

from accounts.models import AccountStateChange, ApiKey, Client, Notice, Restriction
from accounts.selectors import current_state
from compliance import selectors as compliance_selectors
from compliance.models import AuditLog, Complaint, LegalAcceptance, PrivacyRequest
from core.admin import change_url, changelist_url

LIMIT = 10  # rows per list: the last ones, the rest behind "see all"


@dataclass(frozen=True)
class Fact:
    label: str
    value: str
    url: str = ""


@dataclass(frozen=True)
class Link:
    text: str
    url: str = ""


@dataclass(frozen=True)
class Row:
    """One item of a list: its name, linked to its own admin page, and what else is said of it
    (words, or a `Link` to a filtered list)."""

    text: str
    url: str = ""
    details: list[str | Link] = field(default_factory=list)
    flag: str = ""  # a short word that stands out: "holds", "open", "revoked"


@dataclass(frozen=True)
class Listing:
    title: str
    rows: list[Row]
    see_all: str = ""
    empty: str = ""


@dataclass(frozen=True)
class Panel:
    order: int
    title: str
    function: Callable[[object], dict]
    permission: str | None = None  # staff without it do not see the panel


_panels: dict[str, Panel] = {}


def register_client_panel(order: int, title, function: Callable[[object], dict], *, permission: str | None = None) -> None:
    """Called from an app's `ready()` (or this module's end): `function(client)` returns the
    panel's facts and lists. Registering the same function again replaces it."""
    _panels[f"{function.__module__}.{function.__qualname__}"] = Panel(order, title, function, permission)


def client_panels() -> list[Panel]:
    return sorted(_panels.values(), key=lambda panel: (panel.order, str(panel.title)))


def panels_for(client, user) -> list[dict]:
    """The panels the staff member may see, filled for the client, in order."""
    return [{"title": panel.title, "facts": [], "lists": [], **panel.function(client)}
            for panel in client_panels() if panel.permission is None or user.has_perm(panel.permission)]


# --- helpers for the providers ------------------------------------------------------------------






def moment(value) -> str:
    """A date and time as staff read it, in the site's zone ("—" for none)."""
    if value is None:
        return "—"
    if hasattr(value, "hour"):
        return date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")
    return date_format(value, "SHORT_DATE_FORMAT")


def last(queryset) -> list:
    return list(queryset[:LIMIT])


# --- accounts' own panels -----------------------------------------------------------------------


def state_panel(client) -> dict:
    """ACC-3: the state as it stands now, every restriction (those that hold and those lifted)
    with its reason, start, end and who set or lifted it, and the state's history."""

    state, holding = current_state(client)
    status = Client.Status(state.status).label
    facts = [Fact(gettext("State"), str(status))]
    if state.status == Client.Status.BLOCKED:
        facts.append(Fact(gettext("Blocked for"), str(Client.BlockReason(state.block_reason).label)))
        facts.append(Fact(gettext("Blocked until"), moment(state.blocked_until) if state.blocked_until else gettext("for good (until staff lift it)")))
    facts += [Fact(gettext("Restrictions that hold"), str(len(holding))),
              Fact(gettext("Email verified"), moment(client.email_verified_at)),
              Fact(gettext("Joined"), moment(client.date_joined))]
    now = timezone.now()
    restrictions = []
    for r in last(Restriction.objects.filter(client=client).select_related("set_by", "lifted_by").order_by("-starts_at", "-id")):
        what = gettext("Suspension") if r.kind == Restriction.Kind.SUSPENSION else gettext("Block: %(reason)s") % {"reason": r.get_reason_display()}
        details = [gettext("from %(start)s") % {"start": moment(r.starts_at)},
                   gettext("until %(end)s") % {"end": moment(r.ends_at)} if r.ends_at else gettext("for good"),
                   gettext("set by %(who)s") % {"who": r.set_by or gettext("the platform")}]
        if r.note:
            details.append(r.note)
        if r.lifted_at:
            details.append(gettext("lifted %(at)s by %(who)s") % {"at": moment(r.lifted_at), "who": r.lifted_by or gettext("the platform")})
            if r.lift_note:
                details.append(r.lift_note)
        restrictions.append(Row(what, change_url(r), details, flag=pgettext("restriction in force", "holds") if r.holds(now) else gettext("ended")))
    history = []
    for change in last(AccountStateChange.objects.filter(client=client).select_related("actor").order_by("-created_at", "-id")):
        details = [moment(change.created_at), gettext("by %(who)s") % {"who": change.actor or gettext("the platform")}]
        if change.reason:
            details.append(change.get_reason_display())
        if change.until:
            details.append(gettext("until %(end)s") % {"end": moment(change.until)})
        if change.note:
            details.append(change.note)
        history.append(Row(f"{change.get_from_status_display()} → {change.get_to_status_display()}", change_url(change), details))
    return {"facts": facts, "lists": [
        Listing(gettext("Restrictions"), restrictions, changelist_url(Restriction, client__id__exact=client.pk), gettext("No restriction, ever.")),
        Listing(gettext("State history"), history, changelist_url(AccountStateChange, client__id__exact=client.pk), gettext("No change of state.")),
    ]}


def api_keys_panel(client) -> dict:
    """ACC-5: the client's API keys, live and revoked (never their secret)."""

    keys = [Row(str(key), change_url(key), [gettext("made %(at)s") % {"at": moment(key.created_at)},
                                            gettext("last used %(at)s") % {"at": moment(key.last_used_at)},
                                            gettext("%(limit)s requests a minute") % {"limit": key.rate_limit_per_minute}],
                flag=gettext("revoked %(at)s") % {"at": moment(key.revoked_at)} if key.revoked_at else gettext("live"))
            for key in last(ApiKey.objects.filter(client=client).order_by("-created_at", "-id"))]
    notices = [Row(notice.subject, change_url(notice), [moment(notice.created_at), notice.get_kind_display()],
                   flag=gettext("emailed") if notice.emailed_at else gettext("not emailed yet"))
               for notice in last(Notice.objects.filter(client=client).order_by("-created_at", "-id"))]
    return {"lists": [
        Listing(gettext("API keys"), keys, changelist_url(ApiKey, client__id__exact=client.pk), gettext("No API key.")),
        Listing(gettext("What the client was told (NTF-1)"), notices, changelist_url(Notice, client__id__exact=client.pk), gettext("No notice.")),
    ]}


# --- compliance's panels ------------------------------------------------------------------------


def compliance_panel(client) -> dict:
    """CMP: the client's privacy requests, its complaints and the legal documents it accepted."""

    requests = [Row(f"#{r.pk} {r.get_kind_display()}", change_url(r),
                    [gettext("received %(at)s") % {"at": moment(r.received_at)}, gettext("due %(day)s") % {"day": moment(r.due_at)}],
                    flag=r.get_status_display())
                for r in last(compliance_selectors.privacy_requests_of(client=client))]
    complaints = [Row(f"#{c.pk} {c.get_kind_display()}", change_url(c),
                      [gettext("received %(at)s") % {"at": moment(c.received_at)}, gettext("due %(day)s") % {"day": moment(c.due_at)}],
                      flag=c.get_status_display())
                  for c in last(compliance_selectors.complaints_of(client=client))]
    acceptances = [Row(f"{a.document.get_kind_display()} {a.document.version}", change_url(a), [moment(a.accepted_at), a.ip or ""])
                   for a in last(LegalAcceptance.objects.filter(client=client).select_related("document").order_by("-accepted_at", "-id"))]
    return {"lists": [
        Listing(gettext("Privacy requests"), requests, changelist_url(PrivacyRequest, client__id__exact=client.pk), gettext("No privacy request.")),
        Listing(gettext("Complaints filed"), complaints, changelist_url(Complaint, complainant__id__exact=client.pk), gettext("No complaint.")),
        Listing(gettext("Legal documents accepted"), acceptances, changelist_url(LegalAcceptance, client__id__exact=client.pk), gettext("None accepted.")),
    ]}


def audit_panel(client) -> dict:
    """CMP-5: the audit log about the client, newest first."""

    rows = [Row(entry.action, change_url(entry), [moment(entry.created_at), entry.actor_label or gettext("the platform"), entry.target_label])
            for entry in last(AuditLog.objects.filter(client=client).order_by("-created_at", "-id"))]
    return {"lists": [Listing(gettext("Audit trail"), rows, changelist_url(AuditLog, client__id__exact=client.pk), gettext("Nothing audited."))]}


register_client_panel(10, _("State and restrictions"), state_panel)
register_client_panel(60, _("API keys and notices"), api_keys_panel, permission="accounts.view_apikey")
register_client_panel(80, _("Privacy, complaints and legal"), compliance_panel, permission="compliance.view_privacyrequest")
register_client_panel(90, _("Audit trail"), audit_panel, permission="compliance.view_auditlog")
