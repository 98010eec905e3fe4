from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from compliance.models import AppendOnlyModel


def normalize_email(email: str) -> str:
    """One spelling per address: emails are unique case-insensitively, so we keep them lower-case."""
    return (email or "").strip().lower()


class ClientManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, username):
        return self.get(email=normalize_email(username))

    def _create(self, email: str, password: str | None, **fields):
        if not email:
            raise ValueError("An email is required.")
        client = self.model(email=normalize_email(email), **fields)
        client.set_password(password)
        client.save(using=self._db)
        return client

    def create_user(self, email: str, password: str | None = None, **fields):
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields):
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self._create(email, password, **fields)


class Client(AbstractBaseUser, PermissionsMixin):
    """A person with an account: a client of the platform, or staff (is_staff)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        BLOCKED = "blocked", _("Blocked")
        DELETED = "deleted", _("Deleted")

    class BlockReason(models.TextChoices):
        BILLING = "billing", _("Unpaid fees")
        FREE_LIMIT = "free_limit", _("Free tariff limit passed")
        FUNNEL_LOOP = "funnel_loop", _("Funnel loop")
        ABUSE = "abuse", _("Abuse")
        STAFF = "staff", _("Staff decision")

    class Tariff(models.TextChoices):
        FREE = "free", _("Free")
        PRO = "pro", _("PRO")

    email = models.EmailField(_("email"), max_length=254, unique=True)
    name = models.CharField(max_length=150)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    block_reason = models.CharField(max_length=12, choices=BlockReason.choices, blank=True)
    blocked_until = models.DateTimeField(null=True, blank=True, help_text=_("Empty while blocked means for good."))
    # Kept current by billing (DESIGN.md: the right app keeps the left one's fact up to date).
    tariff = models.CharField(max_length=8, choices=Tariff.choices, default=Tariff.FREE, db_index=True)
    # When the current tariff began: a Free stint's project count runs from here (TAR-2).
    tariff_since = models.DateTimeField(default=timezone.now)
    # The language the client chose for the dashboard and its emails; empty until it chooses,
    # when the browser's is used (and the emails take the one it signed up in).
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, blank=True, default="")
    email_verified_at = models.DateTimeField(null=True, blank=True)
    age_confirmed_at = models.DateTimeField(null=True, blank=True)
    is_staff = models.BooleanField(default=False, help_text=_("May sign in to the admin."))
    is_active = models.BooleanField(default=True, help_text=_("Off once the account is deleted."))
    date_joined = models.DateTimeField(default=timezone.now)

    objects = ClientManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        verbose_name = _("client")
        permissions = [
            ("block_client", "Can block and unblock clients"),
            ("reset_two_factor", "Can turn off a client's two-factor authentication"),
        ]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="client_email_ci_unique"),
            models.CheckConstraint(
                condition=models.Q(status="blocked") | models.Q(block_reason="", blocked_until__isnull=True),
                name="client_block_fields_only_when_blocked",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="blocked") | ~models.Q(block_reason=""),
                name="client_blocked_has_reason",
            ),
        ]
        indexes = [models.Index(fields=["status", "blocked_until"], name="client_status_until")]

    def __str__(self) -> str:
        return self.email

    def clean(self):
        super().clean()
        self.email = normalize_email(self.email)

    def get_full_name(self) -> str:
        return self.name

    def get_short_name(self) -> str:
        return self.name

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def current_status(self) -> str:
        """The state as the client sees it now: a timed block past its end reads as lifted."""
        if self.status == self.Status.BLOCKED and not self.is_blocked():
            return self.Status.ACTIVE
        return self.status

    @property
    def current_block_reason(self) -> str | None:
        return self.block_reason if self.is_blocked() else None

    @property
    def current_blocked_until(self):
        return self.blocked_until if self.is_blocked() else None

    def is_blocked(self, now=None) -> bool:
        """Blocked right now: a timed block whose end has passed no longer counts, even before
        the task that lifts it has run."""
        if self.status != self.Status.BLOCKED:
            return False
        return self.blocked_until is None or self.blocked_until > (now or timezone.now())


class AccountStateChange(AppendOnlyModel):
    """The history of a client's state (ACC-3): who changed it, when and why."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="state_changes")
    from_status = models.CharField(max_length=12, choices=Client.Status.choices)
    to_status = models.CharField(max_length=12, choices=Client.Status.choices)
    reason = models.CharField(max_length=12, choices=Client.BlockReason.choices, blank=True)
    until = models.DateTimeField(null=True, blank=True)
    actor = models.ForeignKey(Client, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["client", "-created_at"], name="state_change_client_time")]

    def __str__(self) -> str:
        return f"{self.client_id}: {self.from_status} → {self.to_status}"


class Restriction(models.Model):
    """One restriction of an account (ACC-3), as Kill Bill keeps blocking states: a block for a
    reason, or the billing suspension (DUN-2). An account holds any number at once, each lifted on
    its own; the account's `status`, `block_reason` and `blocked_until` are derived from those that
    hold (`accounts.services.state`)."""

    class Kind(models.TextChoices):
        SUSPENSION = "suspension", _("Suspension")
        BLOCK = "block", _("Block")

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="restrictions")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    reason = models.CharField(max_length=12, choices=Client.BlockReason.choices)
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True, help_text=_("Empty: until lifted (a block for good)."))
    set_by = models.ForeignKey(Client, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text=_("Empty: the platform."))
    note = models.TextField(blank=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(Client, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    lift_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            # One open restriction per kind and reason: blocking again for a reason moves its end.
            models.UniqueConstraint(fields=["client", "kind", "reason"], condition=models.Q(lifted_at__isnull=True), name="restriction_one_open"),
            models.CheckConstraint(condition=~models.Q(kind="suspension") | models.Q(reason="billing"), name="restriction_suspension_is_billing"),
        ]
        indexes = [
            models.Index(fields=["ends_at"], condition=models.Q(lifted_at__isnull=True, ends_at__isnull=False), name="restriction_timed_open"),
        ]

    def __str__(self) -> str:
        what = "Suspension" if self.kind == self.Kind.SUSPENSION else f"Block ({self.get_reason_display()})"
        end = f" until {self.ends_at:%Y-%m-%d %H:%M}" if self.ends_at else ""
        return f"{what} of {self.client_id}{end}{' — lifted' if self.lifted_at else ''}"

    def holds(self, now=None) -> bool:
        now = now or timezone.now()
        return self.lifted_at is None and (self.ends_at is None or self.ends_at > now)


def default_rate_limit() -> int:
    return settings.API_KEY_RATE_LIMIT_PER_MINUTE


class ApiKey(models.Model):
    """A named API key (ACC-5). Only a lookup prefix and an HMAC digest of the secret are stored:
    the full key is shown once, when it is made."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    rate_limit_per_minute = models.PositiveIntegerField(default=default_rate_limit, validators=[MinValueValidator(1), MaxValueValidator(100_000)])
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["client", "-created_at"], name="api_key_client_time")]
        verbose_name = _("API key")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class AccessRecoveryRequest(models.Model):
    """A request to regain an account without its password (ACC-4), decided by staff on the proof
    of ownership it carries."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        APPROVED = "approved", _("Approved")
        REFUSED = "refused", _("Refused")

    account_email = models.EmailField(help_text=_("The email of the account to recover."))
    contact_email = models.EmailField(help_text=_("Where the requester can be reached now."))
    proof = models.TextField(help_text=_("What the requester offers as proof of ownership."))
    client = models.ForeignKey(
        Client, null=True, blank=True, on_delete=models.PROTECT, related_name="recovery_requests",
        help_text=_("The account the email matched when the request arrived."),
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    handled_by = models.ForeignKey(Client, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    handled_at = models.DateTimeField(null=True, blank=True)
    staff_note = models.TextField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("access recovery request")
        permissions = [("decide_accessrecoveryrequest", "Can approve or refuse access recovery requests")]

    def __str__(self) -> str:
        return f"Recovery of {self.account_email} ({self.get_status_display()})"


class Notice(models.Model):
    """What the client was told (NTF-1): one row per event, the email sent from it once the change
    it tells of has committed; the dashboard lists them."""

    class Kind(models.TextChoices):
        CARD_VERIFIED = "card_verified", _("Card verified")
        PRO_ACTIVATED = "pro_activated", _("PRO activated")
        RENEWAL_CHARGED = "renewal_charged", _("Renewal charged")
        PACKAGES_CHANGED = "packages_changed", _("Packages changed")
        PERIOD_DECIDED = "period_decided", _("Period change decided")
        DEACTIVATION_CONFIRMED = "deactivation_confirmed", _("Deactivation confirmed")
        PRICE_CHANGE = "price_change", _("New price ahead")
        BILLING_FREE_LIMIT = "billing_free_limit", _("Free limit passed")
        BILLING_SUSPENDED = "billing_suspended", _("Collection failed: suspended")
        BILLING_BLOCKED = "billing_blocked", _("Collection failed again: blocked")
        BILLING_DEACTIVATED = "billing_deactivated", _("PRO ended unpaid")
        BILLING_PAID = "billing_paid", _("Debt paid")
        ACCOUNT_BLOCKED = "account_blocked", _("Account blocked")
        ACCOUNT_UNBLOCKED = "account_unblocked", _("Account unblocked")
        ACCOUNT_DELETED = "account_deleted", _("Account deleted")

    # Its index is the unique (client, event) one, which starts with it: a second on the client
    # alone would only be written (20,000 times on a worst night).
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="notices", db_index=False)
    kind = models.CharField(max_length=32, choices=Kind.choices)

    # The event it tells of, so that a retried task or a repeated call tells it once.
    event = models.CharField(max_length=120)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["client", "event"], name="notice_once_per_event")]
        # The sweep of notices not yet emailed (issue 17: an email that failed is sent again)
        # reads only these: a few rows, not every notice ever written.
        indexes = [models.Index(fields=["created_at"], condition=models.Q(emailed_at__isnull=True), name="notice_not_emailed")]

    def __str__(self) -> str:
        return f"{self.subject} ({self.client_id})"
