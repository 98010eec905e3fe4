"""The registry of the route isolation test (issue 17, item 3): every route of the URL
configuration has its entry here. An object route says how to name the victim's objects, and for
each HTTP method what it needs (a PRJ-1 section, ANY access, the OWNER, or MINE: the account's own
object) and the body that would change something; a route without parameters says who may call it;
an exempt one says why. `test_route_isolation.py` fails for a route found without an entry, and
for an entry whose route is gone."""

from dataclasses import dataclass
from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from projects.access import SECTIONS
from tests.core.route_isolation_world import GOOD_TOKEN, NEWCOMER

ANY, OWNER, MINE = "any", "owner", "mine"
ALLOWED = "allowed"

FUNNEL = {"name": "Replacement", "start": "b", "blocks": [{"key": "b", "kind": "message", "text": "Replaced"}]}
EDITOR_FIELDS = ("key", "kind", "text", "buttons", "next", "else_next", "delay_seconds", "action", "field", "value", "tag")
EDITOR = {"name": "Replacement", "start": "b", "blocks-TOTAL_FORMS": "1", "blocks-INITIAL_FORMS": "0", "blocks-MIN_NUM_FORMS": "0",
          "blocks-MAX_NUM_FORMS": "100", **{f"blocks-0-{f}": "" for f in EDITOR_FIELDS}, "blocks-0-key": "b", "blocks-0-kind": "message",
          "blocks-0-text": "Replaced"}


def _later() -> str:
    return (timezone.now() + timedelta(days=2)).isoformat()


def _upload() -> dict:
    return {"file": SimpleUploadedFile("contacts.csv", b"name,email\nUploaded,uploaded@elsewhere.example\n", "text/csv"),
            "consent_confirmed": "on"}


@dataclass(frozen=True)
class Call:
    """One HTTP method of an object route."""

    need: str  # a PRJ-1 section, ANY, OWNER or MINE
    write: bool = False  # changes something: a refusal must leave every row as it was
    body: object = None  # the body that would work for the owner (a dict, or a callable making one)
    blocked_owner: str = ""  # ACC-3 for the victim itself, blocked: "" = reads allowed, writes refused

    def data(self):
        return self.body() if callable(self.body) else self.body

    @property
    def blocked_owner_may(self) -> bool:
        return self.blocked_owner == ALLOWED if self.blocked_owner else not self.write


def read(need: str) -> Call:
    return Call(need)


def write(need: str, body=None, **kwargs) -> Call:
    return Call(need, write=True, body=body, **kwargs)


@dataclass(frozen=True)
class Case:
    """An object route: each path parameter → the world's object (`World.ids`), each method → its Call."""

    params: dict
    calls: dict
    # The dashboard answers a stranger as it answers for an object that does not exist, not with 404.
    stranger_as_missing: str = ""
    note: str = ""


PROJECT = {"project_id": "project"}

API_OBJECT_ROUTES = {
    "api-key-detail": Case({"id": "api_key"}, {
        "DELETE": write(MINE, blocked_owner=ALLOWED)}, note="ACC-3/ACC-5: revoking only takes access away, so a blocked client may"),
    "api-project": Case(PROJECT, {"GET": read(ANY), "PATCH": write("settings", {"name": "Hijacked"}), "DELETE": write(OWNER)}),
    "api-project-statistics": Case(PROJECT, {"GET": read("statistics")}),
    "api-project-members": Case(PROJECT, {
        "GET": read("access_control"), "POST": write("access_control", {"email": NEWCOMER, "access": {"subscribers": "view"}})}),
    "api-project-member": Case({**PROJECT, "member_id": "member"}, {
        "GET": read("access_control"), "PATCH": write("access_control", {"access": {"subscribers": "full"}}), "DELETE": write("access_control")}),
    "api-project-subscribers": Case(PROJECT, {
        "GET": read("subscribers"), "POST": write("subscribers", {"email": "added@elsewhere.example", "consent": True})}),
    "api-project-subscribers-import": Case(PROJECT, {
        "POST": write("subscribers", {"consent_confirmed": True, "subscribers": [{"email": "imported@elsewhere.example"}]})}),
    "api-project-subscriber-unsubscribe": Case({**PROJECT, "subscriber_id": "subscriber"}, {"POST": write("subscribers")}),
    "api-project-address-books": Case(PROJECT, {"GET": read("address_books"), "POST": write("address_books", {"name": "Another book"})}),
    "api-address-book-contacts": Case({**PROJECT, "book_id": "book"}, {"GET": read("address_books")}),
    "api-address-book-contacts-import": Case({**PROJECT, "book_id": "book"}, {
        "POST": write("address_books", {"consent_confirmed": True, "contacts": [{"email": "imported@elsewhere.example"}]})}),
    "api-project-bot": Case(PROJECT, {"GET": read("settings"), "PUT": write("settings", {"token": GOOD_TOKEN})}),
    "api-project-funnels": Case(PROJECT, {"GET": read("funnels"), "POST": write("funnels", FUNNEL)}),
    "api-project-funnel": Case({**PROJECT, "funnel_id": "funnel"}, {
        "GET": read("funnels"), "PUT": write("funnels", FUNNEL), "DELETE": write("funnels")}),
    "api-project-broadcasts": Case(PROJECT, {"GET": read("messages"), "POST": write("messages", lambda: {"text": "Hijack", "send_at": _later()})}),
    "api-project-broadcast": Case({**PROJECT, "broadcast_id": "broadcast"}, {"GET": read("messages")}),
    "api-project-broadcast-cancel": Case({**PROJECT, "broadcast_id": "broadcast"}, {"POST": write("messages")}),
    "api-billing-invoice-pdf": Case({"number": "invoice"}, {"GET": read(MINE)}),
}

_MEMBER_FORM = {"email": NEWCOMER, **dict.fromkeys(SECTIONS, "none"), "subscribers": "view"}

# Dashboard views are functions: GET and POST are both tried on every route; a method missing here
# must answer the owner 405.
DASHBOARD_OBJECT_ROUTES = {
    "dashboard:project": Case(PROJECT, {"GET": read(ANY), "POST": read(ANY)}),
    "dashboard:project-update": Case(PROJECT, {"POST": write("settings", {"name": "Hijacked", "industry": "other"})}),
    "dashboard:project-subscriber-add": Case(PROJECT, {"POST": write("subscribers", {"email": "added@elsewhere.example", "consent": "on"})}),
    "dashboard:project-unsubscribe": Case({**PROJECT, "subscriber_id": "subscriber"}, {"POST": write("subscribers")}),
    "dashboard:project-address-book-add": Case(PROJECT, {"POST": write("address_books", {"name": "Another book"})}),
    "dashboard:project-address-book": Case({**PROJECT, "book_id": "book"}, {"GET": read("address_books"), "POST": write("address_books", _upload)}),
    "dashboard:project-member-add": Case(PROJECT, {"POST": write("access_control", _MEMBER_FORM)}),
    "dashboard:project-member-remove": Case({**PROJECT, "member_id": "member"}, {"POST": write("access_control")}),
    "dashboard:project-funnels": Case(PROJECT, {"GET": read("funnels"), "POST": read("funnels")}),
    "dashboard:project-funnel-new": Case(PROJECT, {"GET": read("funnels"), "POST": write("funnels", EDITOR)}),
    "dashboard:project-funnel": Case({**PROJECT, "funnel_id": "funnel"}, {"GET": read("funnels"), "POST": write("funnels", EDITOR)}),
    "dashboard:project-funnel-delete": Case({**PROJECT, "funnel_id": "funnel"}, {"GET": read("funnels"), "POST": write("funnels")}),
    "dashboard:project-broadcasts": Case(PROJECT, {"GET": read("messages"), "POST": write("messages", lambda: {"text": "Hijack", "send_at": ""})}),
    "dashboard:project-broadcast-cancel": Case({**PROJECT, "broadcast_id": "broadcast"}, {"POST": write("messages")}),
    "dashboard:project-bot": Case(PROJECT, {"GET": read("settings"), "POST": write("settings", {"token": GOOD_TOKEN})}),
    "dashboard:billing-invoice-pdf": Case({"number": "invoice"}, {"GET": read(MINE), "POST": read(MINE)}),
    "dashboard:api-key-revoke": Case({"pk": "api_key"}, {"POST": write(MINE, blocked_owner=ALLOWED)},
                                     stranger_as_missing="the page says the key does not exist, as for a key that does not"),
}


@dataclass(frozen=True)
class Plain:
    """A route without parameters: signed-in only (anonymous: 401 or the sign-in page), or public."""

    public: str = ""  # why anyone may call it (API views are tried on their own methods, pages on GET and POST)


SIGNED_IN = Plain()

PLAIN_ROUTES = {
    # API (/api/v1/): methods are the view's own.
    "api-me": SIGNED_IN, "api-keys": SIGNED_IN, "api-projects": SIGNED_IN,
    "api-billing": SIGNED_IN, "api-billing-deletion": SIGNED_IN, "api-billing-prices": SIGNED_IN, "api-billing-card": SIGNED_IN,
    "api-billing-backup-card": SIGNED_IN, "api-billing-upcoming": SIGNED_IN, "api-billing-activate": SIGNED_IN,
    "api-billing-deactivate": SIGNED_IN, "api-billing-period": SIGNED_IN, "api-billing-topup": SIGNED_IN, "api-billing-ledger": SIGNED_IN,
    "api-billing-invoices": SIGNED_IN, "api-legal-documents": SIGNED_IN, "api-legal-accept": SIGNED_IN, "api-complaints": SIGNED_IN,
    "api-privacy-requests": SIGNED_IN, "api-privacy-export": SIGNED_IN, "api-consent-marketing": SIGNED_IN,
    "api-register": Plain("sign-up takes no credentials (ACC-1); throttled per IP"),
    "api-token": Plain("sign-in takes the email and password (ACC-2); throttled per IP and locked out per email"),
    "api-access-recovery": Plain("for those who lost their password (ACC-4); throttled per IP"),
    "api-public-subscribe": Plain("the pop-up form on a client's site names its project by the public key (PRJ-3)"),
    "api-consent-cookies": Plain("a visitor's own cookie answer, found only by its own cookie (CMP-8)"),
    "api-schema": Plain("the public API's documentation"),
    "api-docs": Plain("the public API's documentation"),
    "health": Plain("the platform's health for monitoring (item 6): states, no client's data"),
    "health-ready": Plain("the load balancer's probe (item 6): the database and migrations' states, no client's data"),
    # The dashboard and the other pages.
    "dashboard:overview": SIGNED_IN, "dashboard:billing": SIGNED_IN, "dashboard:billing-card": SIGNED_IN,
    "dashboard:billing-card-remove": SIGNED_IN, "dashboard:billing-top-up": SIGNED_IN, "dashboard:billing-activate": SIGNED_IN,
    "dashboard:billing-deactivate": SIGNED_IN, "dashboard:billing-period": SIGNED_IN, "dashboard:privacy": SIGNED_IN,
    "dashboard:privacy-delete-account": SIGNED_IN, "dashboard:projects": SIGNED_IN, "dashboard:home": SIGNED_IN,
    "dashboard:api-key-create": SIGNED_IN, "legal_accept": SIGNED_IN,
    "dashboard:access-recovery": Plain("the form for those who lost their password (ACC-4)"),
    "cookie_choice": Plain("the cookie banner's answer, for any visitor (CMP-8)"),
    "set_language": Plain("the header's language switch, for any visitor"),
}

# Routes with parameters that are no client's object behind a session or a key.
EXEMPT_OBJECT_ROUTES = {
    "legal_document": "the published legal texts are public (CMP-1)",
    "telegram-webhook": "Telegram's calls, checked by the project's own secret header (tests/projects/test_telegram_webhook.py)",
    "privacy_download": "the emailed link is the capability: an unguessable token, expiring (CMP-2); checked here for an unknown one",
}

# Whole includes, by URL prefix.
EXEMPT_PREFIXES = {
    "accounts/": "allauth: sign-in, sign-up, email, password and 2FA pages of the session's own account, no other client's object",
}
ADMIN_PREFIX = "admin/"  # staff only: every route is checked to send a signed-in client to the admin's sign-in
# Admin pages any visitor may open: the sign-in itself, signing out, the JavaScript catalogue.
ADMIN_PUBLIC = {"admin:login": "the sign-in page", "admin:logout": "signing out", "admin:jsi18n": "the admin's translations for its JavaScript"}
