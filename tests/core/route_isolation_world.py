"""The cast of the route isolation test (issue 17, item 3): a victim who owns one of every object a
route can name, each carrying a unique string, and the callers who must not reach them."""

from dataclasses import dataclass, field
from datetime import timedelta

from django.test import Client as Browser
from django.utils import timezone
from rest_framework.test import APIClient

from projects.access import SECTIONS
from tests.factories import add_member, api_as, make_client, make_project, make_subscriber, on_pro

# A missing object: in range for every integer column (a number past bigint is item 1's matter).
MISSING_ID = 987_654_321
MISSING_NUMBER = "INV-2099-999999"
GOOD_TOKEN = "424242:ZQISOLATIONtokenABCDEFGHIJKLMNOPQRS"
NEWCOMER = "newcomer@elsewhere.example"  # a client a member form invites


class FakeChannel:
    """The messenger port without Telegram: the owner's control call connects a bot."""

    name = "fake"

    def get_me(self, *, token):
        from projects.channels import BotIdentity, ChannelRefused

        if token != GOOD_TOKEN:
            raise ChannelRefused(401, "Unauthorized")
        return BotIdentity(id=424242, username="zq_new_bot", name="Zq New Bot")

    def set_webhook(self, *, token, url, secret):
        return None


# Every string below names the victim or one of its objects, and nothing else in the database.
OWNER_NAME, OWNER_EMAIL = "Vera Zqvictim", "vera.zqvictim@victim.example"
PROJECT_NAME = "Zqorchard project"
SUBSCRIBER = ("Zqsubscriber Name", "zqsubscriber@victim.example")
BOOK_NAME = "Zqbook leads"
CONTACT = ("Zqcontact Name", "zqcontact@victim.example")
MEMBER = ("Zqmember Name", "zqmember@victim.example")
FUNNEL_NAME, BLOCK_TEXT = "Zqfunnel welcome", "Zqblock hello text"
BOT = ("zqvictim_bot", "Zqvictim Bot")
BROADCAST_TEXT = "Zqbroadcast sale text"
KEY_NAME = "zqkey-integration"
INVOICE_NUMBER = "INV-2099-424242"
PRIVACY_DETAILS = "Zqprivacy request details"
COMPLAINT_TEXT = "Zqcomplaint description"

# What each section shows (PRJ-1): a participant without the section sees none of it.
SECTION_DATA = {
    "funnels": [FUNNEL_NAME, BLOCK_TEXT],
    "subscribers": list(SUBSCRIBER),
    "address_books": [BOOK_NAME, *CONTACT],
    "messages": [BROADCAST_TEXT],
    "statistics": [],  # counts only: the status says it
    "settings": list(BOT),
    "access_control": list(MEMBER),
}
# What a stranger sees none of, on any route.
ALL_DATA = [OWNER_NAME, OWNER_EMAIL, PROJECT_NAME, KEY_NAME, INVOICE_NUMBER, PRIVACY_DETAILS, COMPLAINT_TEXT,
            *(value for values in SECTION_DATA.values() for value in values)]


@dataclass
class World:
    owner: object
    project: object
    subscriber: object
    book: object
    contact: object
    member: object
    funnel: object
    broadcast: object
    api_key: object
    invoice: object
    stranger: object
    stranger_project: object  # the stranger's own, to name the victim's objects under (PRJ-1)
    complaint: object = None
    privacy_request: object = None
    _participants: dict = field(default_factory=dict)

    def ids(self) -> dict:
        """The path parameters that name the victim's objects."""
        return {"project": self.project.pk, "subscriber": self.subscriber.pk, "book": self.book.pk, "member": self.member.pk,
                "funnel": self.funnel.pk, "broadcast": self.broadcast.pk, "api_key": self.api_key.pk, "invoice": self.invoice.number}

    def participant(self, without: str | None):
        """A participant holding every section at `full` but `without` (None: all of them)."""
        if without not in self._participants:
            client = make_client(email=f"part-{without or 'all'}@elsewhere.example", name=f"Participant {without or 'all'}")
            add_member(project=self.project, client=client, **{s: "full" for s in SECTIONS if s != without})
            self._participants[without] = client
        return self._participants[without]

    def blocked_participant(self):
        """A participant holding everything, under an `abuse` block (ACC-3: its participations are suspended)."""
        from accounts import services as accounts

        if "blocked" not in self._participants:
            client = make_client(email="part-blocked@elsewhere.example", name="Participant blocked")
            add_member(project=self.project, client=client, **dict.fromkeys(SECTIONS, "full"))
            self._participants["blocked"] = accounts.block(client=client, reason="abuse", note="issue 17 isolation")
        return self._participants["blocked"]


def build_world() -> World:
    from accounts import services as accounts
    from billing.models import Invoice
    from compliance.services import receive_complaint, receive_privacy_request
    from core.crypto import encrypt
    from projects import services as projects
    from projects.funnels import services as funnels
    from projects.funnels.spec import BlockSpec, FunnelSpec
    from projects.models import Broadcast, Contact, ProjectBot

    owner = on_pro(make_client(email=OWNER_EMAIL, name=OWNER_NAME))
    project = make_project(owner=owner, name=PROJECT_NAME)
    subscriber = make_subscriber(project=project, name=SUBSCRIBER[0], email=SUBSCRIBER[1])
    book = projects.create_address_book(project=project, actor=owner, name=BOOK_NAME)
    contact = Contact.objects.create(address_book=book, name=CONTACT[0], email=CONTACT[1], consent_source="upload", created_at=timezone.now())
    member = add_member(project=project, client=make_client(email=MEMBER[1], name=MEMBER[0]), subscribers="view")
    funnel = funnels.create_funnel(project=project, actor=owner, spec=FunnelSpec(
        name=FUNNEL_NAME, start="a", blocks=(BlockSpec(key="a", kind="message", text=BLOCK_TEXT),)))
    ProjectBot.objects.create(project=project, token_encrypted=encrypt("1:victim"), bot_id=1, username=BOT[0], name=BOT[1])
    broadcast = Broadcast.objects.create(project=project, text=BROADCAST_TEXT, send_at=timezone.now() + timedelta(days=1), created_by=owner,
                                         recipients=1)
    api_key, _secret = accounts.create_api_key(client=owner, name=KEY_NAME, actor=owner)
    now = timezone.now()
    invoice = Invoice.objects.create(number=INVOICE_NUMBER, kind=Invoice.Kind.INVOICE, series="INV", year=2099, sequence=424242, client=owner,
                                     client_name=owner.name, client_email=owner.email, due_at=now, total_cents=1234, reference="isolation")
    privacy_request = receive_privacy_request(client=owner, kind="access", details=PRIVACY_DETAILS)
    complaint = receive_complaint(complainant=owner, identification=f"{OWNER_NAME}, {OWNER_EMAIL}", description=COMPLAINT_TEXT,
                                  period_start=now.date(), period_end=now.date())
    stranger = make_client(email="stranger@elsewhere.example", name="Sam Stranger")
    stranger_project = make_project(owner=stranger, name="Stranger's own")
    receive_privacy_request(client=stranger, kind="portability")  # its own rows, for its lists to show
    receive_complaint(complainant=stranger, identification="Sam Stranger", description="Noise.", period_start=now.date(), period_end=now.date())
    make_client(email=NEWCOMER, name="New Comer")
    return World(owner=owner, project=project, subscriber=subscriber, book=book, contact=contact, member=member, funnel=funnel,
                 broadcast=broadcast, api_key=api_key, invoice=invoice, stranger=stranger,
                 stranger_project=stranger_project, complaint=complaint, privacy_request=privacy_request)


def api_caller(client) -> APIClient:
    return APIClient() if client is None else api_as(client)


def browser(client) -> Browser:
    session = Browser()
    if client is not None:
        session.force_login(client)
    return session
