import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from projects.access import SECTIONS, Level

# A module name: ProjectMember has a field called `settings` (the section), which would shadow it.
CLIENT_MODEL = settings.AUTH_USER_MODEL


class Industry(models.TextChoices):
    OTHER = "other", _("Other")
    ECOMMERCE = "ecommerce", _("Online shop")
    EDUCATION = "education", _("Education")
    MEDIA = "media", _("Media and entertainment")
    SERVICES = "services", _("Local services")
    SOFTWARE = "software", _("Software and SaaS")
    TRAVEL = "travel", _("Travel and hospitality")
    HEALTH = "health", _("Health and fitness")
    NON_PROFIT = "non_profit", _("Non-profit")
    # ToU 21.6: industries that draw more spam complaints than usual (PRJ-7: staff review first).
    ESCORT_DATING = "escort_dating", _("Escort and dating services")
    MALWARE = "malware", _("Malware and viruses")
    PHARMACEUTICALS = "pharmaceuticals", _("Pharmaceutical products")
    WORK_FROM_HOME = "work_from_home", _("Work from home, making money online")
    ONLINE_TRADING = "online_trading", _("Online trading and stock tips")
    MLM = "mlm", _("Financial pyramids and network marketing")
    AFFILIATE_MARKETING = "affiliate_marketing", _("Affiliate marketing")
    DEBT_COLLECTION = "debt_collection", _("Debt collection and debt relief")
    MORTGAGES_LOANS = "mortgages_loans", _("Mortgages and loans")
    SUPPLEMENTS = "supplements", _("Food, herbal and vitamin supplements")
    ADULT = "adult", _("Adult products")
    BROKER_LISTS = "broker_lists", _("Lists of brokers or rental services")
    ILLEGAL_GOODS = "illegal_goods", _("Illegal goods, pirated software or media")
    GAMBLING = "gambling", _("Betting and gambling")
    POLITICS = "politics", _("Political parties and organizations")
    TOBACCO = "tobacco", _("Tobacco products")
    ALCOHOL = "alcohol", _("Alcoholic beverages")
    RELIGION = "religion", _("Religious content")


REVIEWED_INDUSTRIES = frozenset(
    {
        Industry.ESCORT_DATING, Industry.MALWARE, Industry.PHARMACEUTICALS, Industry.WORK_FROM_HOME,
        Industry.ONLINE_TRADING, Industry.MLM, Industry.AFFILIATE_MARKETING, Industry.DEBT_COLLECTION,
        Industry.MORTGAGES_LOANS, Industry.SUPPLEMENTS, Industry.ADULT, Industry.BROKER_LISTS,
        Industry.ILLEGAL_GOODS, Industry.GAMBLING, Industry.POLITICS, Industry.TOBACCO, Industry.ALCOHOL,
        Industry.RELIGION,
    }
)


def new_public_key() -> str:
    return "pk_" + secrets.token_urlsafe(18)


def new_webhook_token() -> str:
    return secrets.token_urlsafe(24)


def new_telegram_secret() -> str:
    # Telegram allows 1-256 characters of A-Z, a-z, 0-9, _ and - in the secret token.
    return secrets.token_urlsafe(32)


class Project(models.Model):
    """A chatbot with one owner, who pays for it (PRJ-1, TAR-7), and its participants."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")  # while any ProjectRestriction holds but the lock
        LOCKED = "locked", _("Locked")  # DUN-3
        ARCHIVED = "archived", _("Archived")  # DEA-2, or deleted by its owner

    class Review(models.TextChoices):
        NOT_NEEDED = "not_needed", _("Not needed")
        PENDING = "pending", _("Waiting for staff")
        CLEARED = "cleared", _("Cleared to send")
        REFUSED = "refused", _("Refused")

    owner = models.ForeignKey(CLIENT_MODEL, on_delete=models.PROTECT, related_name="owned_projects")
    name = models.CharField(max_length=120)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    industry = models.CharField(max_length=24, choices=Industry.choices, default=Industry.OTHER)
    review = models.CharField(max_length=10, choices=Review.choices, default=Review.NOT_NEEDED)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        CLIENT_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The pop-up form on the client's own site names the project by this key; it is public.
    public_key = models.CharField(max_length=40, unique=True, default=new_public_key)
    telegram_webhook_token = models.CharField(max_length=40, unique=True, default=new_webhook_token)
    telegram_secret = models.CharField(max_length=64, default=new_telegram_secret)
    created_at = models.DateTimeField(default=timezone.now)
    archived_at = models.DateTimeField(null=True, blank=True, help_text=_("When PRO ended and the project was archived (DEA-2)."))
    # Deleted by the owner: the row stays, so that a deleted project still used its Free slot (TAR-2).
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("review_project", "Can clear or refuse a project's industry for sending"),
            ("suspend_project", "Can suspend projects and lift that suspension"),
        ]
        indexes = [
            models.Index(fields=["owner", "created_at"], name="project_owner_created"),
            models.Index(fields=["review"], name="project_review_pending", condition=Q(review="pending")),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def telegram_webhook_path(self) -> str:
        return f"/webhooks/telegram/{self.telegram_webhook_token}/"

    @property
    def may_send(self) -> bool:
        """Only active projects send (PRJ-2), and a reviewed industry only once staff cleared it (PRJ-7)."""
        return self.status == self.Status.ACTIVE and self.review in (self.Review.NOT_NEEDED, self.Review.CLEARED)


def _level_field(section: str) -> models.CharField:
    return models.CharField(max_length=4, choices=Level.choices, default=Level.NONE, verbose_name=section.replace("_", " "))



class ProjectRestriction(models.Model):
    """One reason a project does not run (PRJ-2): a project is suspended while any holds, locked
    while its owner's billing block does, active when none does; each is lifted on its own, so
    that paying a debt leaves a spam complaint's suspension (DUN-4, CMP-4)."""

    class Reason(models.TextChoices):
        DUNNING = "dunning", _("Unpaid fees (DUN-2)")
        BILLING_LOCK = "billing_lock", _("Owner blocked for unpaid fees (DUN-3)")
        COMPLAINT = "complaint", _("Spam complaint (CMP-4)")
        INDUSTRY_REVIEW = "industry_review", _("Industry review (PRJ-7)")
        STAFF = "staff", _("Staff decision")

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="restrictions")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    # What it is about where a reason can hold more than once: `complaint:<id>`.
    ref = models.CharField(max_length=40, blank=True)
    starts_at = models.DateTimeField(default=timezone.now)
    set_by = models.ForeignKey(CLIENT_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text=_("Empty: the platform."))
    note = models.TextField(blank=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(CLIENT_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    lift_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "reason", "ref"], condition=Q(lifted_at__isnull=True), name="project_restriction_one_open"),
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} on project {self.project_id}{' — lifted' if self.lifted_at else ''}"

class ProjectMember(models.Model):
    """A participant of someone else's project and its level in each section (PRJ-1). The owner
    is never a member: its rights are whole by being the owner."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="members")
    client = models.ForeignKey(CLIENT_MODEL, on_delete=models.CASCADE, related_name="memberships")
    funnels = _level_field("funnels")
    subscribers = _level_field("subscribers")
    address_books = _level_field("address_books")
    messages = _level_field("messages")
    statistics = _level_field("statistics")
    settings = _level_field("settings")
    access_control = _level_field("access_control")
    granted_by = models.ForeignKey(
        CLIENT_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["project", "client"], name="project_member_once")]
        indexes = [models.Index(fields=["client", "project"], name="member_client_project")]

    def __str__(self) -> str:
        return f"{self.client} in {self.project}"

    @property
    def access(self) -> dict[str, str]:
        return {section: getattr(self, section) for section in SECTIONS}

    @property
    def levels(self) -> list[str]:
        """The level in each section, in SECTIONS' order (a table's columns)."""
        return [getattr(self, section) for section in SECTIONS]


class Subscriber(models.Model):
    """A person subscribed to a project through a messenger, the pop-up form, the API or an
    import (PRJ-3). The messenger user ID stays inside the platform (PRJ-4)."""

    class Messenger(models.TextChoices):
        NONE = "", _("None")
        TELEGRAM = "telegram", _("Telegram")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Subscribed")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")

    class Source(models.TextChoices):
        TELEGRAM = "telegram", _("Telegram /start")
        POPUP = "popup", _("Pop-up form")
        API = "api", _("Added by the client")
        IMPORT = "import", _("Imported by the client")

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="subscribers")
    messenger = models.CharField(max_length=12, choices=Messenger.choices, blank=True, default="")
    messenger_user_id = models.CharField(max_length=64, blank=True, default="")
    name = models.CharField(max_length=200, blank=True, default="")
    email = models.EmailField(max_length=254, blank=True, default="")
    phone = models.CharField(max_length=20, blank=True, default="", help_text=_("E.164, e.g. +4915112345678."))
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    source = models.CharField(max_length=8, choices=Source.choices)
    consent_at = models.DateTimeField()
    consent_source = models.CharField(max_length=200, help_text=_("How the person consented (PRJ-3)."))
    subscribed_at = models.DateTimeField()
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # When the row was made, by the database (imports insert by COPY), so that a flood of pop-up
    # subscribers can be told from people re-subscribing (issue 17, item 4). Empty on rows made
    # before it was kept.
    created_at = models.DateTimeField(null=True, blank=True, db_default=Now(), editable=False)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "messenger", "messenger_user_id"], name="subscriber_messenger_user_once",
                condition=~Q(messenger_user_id=""),
            ),
            models.UniqueConstraint(fields=["project", "email"], name="subscriber_email_once", condition=~Q(email="")),
            models.UniqueConstraint(fields=["project", "phone"], name="subscriber_phone_once", condition=~Q(phone="")),
            models.CheckConstraint(
                condition=Q(status="active", unsubscribed_at__isnull=True) | Q(status="unsubscribed", unsubscribed_at__isnull=False),
                name="subscriber_unsubscribed_has_time",
            ),
        ]
        indexes = [
            # The night counts active subscribers per project (and so per owner) from this index alone.
            models.Index(fields=["project"], name="subscriber_active_by_project", condition=Q(status="active")),
            # Staff search across every project by exact email or phone.
            models.Index(fields=["email"], name="subscriber_email", condition=~Q(email="")),
            models.Index(fields=["phone"], name="subscriber_phone", condition=~Q(phone="")),
        ]

    def __str__(self) -> str:
        return self.name or self.email or self.phone or f"subscriber {self.pk}"


class TelegramUpdate(models.Model):
    """An update_id already taken in, so that Telegram's re-delivery changes nothing. Telegram
    keeps an undelivered update for 24 hours; older rows only guard against nothing."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    update_id = models.BigIntegerField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "update_id"], name="telegram_update_once")]
        indexes = [models.Index(fields=["received_at"], name="telegram_update_received")]

    def __str__(self) -> str:
        return f"update {self.update_id} of project {self.project_id}"


class AddressBook(models.Model):
    """Contacts a client uploads, each upload with the client's statement that they consented (PRJ-5)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="address_books")
    name = models.CharField(max_length=120)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    address_book = models.ForeignKey(AddressBook, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200, blank=True, default="")
    email = models.EmailField(max_length=254, blank=True, default="")
    phone = models.CharField(max_length=20, blank=True, default="")
    consent_source = models.CharField(max_length=200)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["address_book", "email"], name="contact_email_once", condition=~Q(email="")),
            models.UniqueConstraint(fields=["address_book", "phone"], name="contact_phone_once", condition=~Q(phone="")),
        ]

    def __str__(self) -> str:
        return self.name or self.email or self.phone or f"contact {self.pk}"
