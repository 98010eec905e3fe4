"""What billing keeps of money: prices, wallets and their ledger, cards, subscriptions, invoices,
payment attempts, period change requests, disputes."""

import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from compliance.models import AppendOnlyError, AppendOnlyModel
from core.clock import add_months
from core.money import dollars

CLIENT_MODEL = settings.AUTH_USER_MODEL
MINIMUM_PACKAGE_CENTS = 1_000  # TAR-4, ToU 3.5: never below $10


class Period(models.TextChoices):
    MONTHLY = "monthly", _("Monthly")
    QUARTERLY = "quarterly", _("Quarterly")
    YEARLY = "yearly", _("Yearly")


PERIOD_MONTHS = {Period.MONTHLY: 1, Period.QUARTERLY: 3, Period.YEARLY: 12}


class PolicySettings(AppendOnlyModel):
    """The operator's prices and policy, one row per version (TAR-4, DEA-1, DEA-3, WAL-6): the
    newest row is in force; older rows are the history. A change is a new row, never an edit, and
    applies from the next period on: a period keeps the price it was paid at."""

    package_monthly_cents = models.PositiveIntegerField(default=1_000, help_text=_("One package for one month; at least $10.00."))
    quarterly_discount_percent = models.PositiveSmallIntegerField(default=10)
    yearly_discount_percent = models.PositiveSmallIntegerField(default=20)
    setup_fee_cents = models.PositiveIntegerField(default=0, help_text=_("Charged once in a client's life, at the first activation."))
    prorate_on_cancel = models.BooleanField(default=True, help_text=_("Credit the unused part of the period on deactivation (DEA-1)."))
    cancel_notice_business_days = models.PositiveSmallIntegerField(default=0, help_text=_("DEA-3; the refund policy uses 5."))
    late_fee_cents = models.PositiveIntegerField(default=0, help_text=_("On an overdue invoice (WAL-6); none by default."))
    grace_days = models.PositiveSmallIntegerField(default=7, help_text=_("An invoice is due this many days after it is issued (WAL-6)."))
    retention_days = models.PositiveSmallIntegerField(default=30, help_text=_("Archived projects are kept this long (DEA-2)."))
    refund_window_days = models.PositiveSmallIntegerField(default=7, help_text=_("Staff refunds to the card within this window (WAL-3)."))
    note = models.CharField(max_length=300, blank=True, help_text=_("Why it changed."))
    created_by = models.ForeignKey(CLIENT_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("price and policy version")
        verbose_name_plural = _("prices and policy")
        constraints = [
            models.CheckConstraint(condition=Q(package_monthly_cents__gte=MINIMUM_PACKAGE_CENTS), name="policy_package_at_least_10_dollars"),
            models.CheckConstraint(condition=Q(quarterly_discount_percent__lt=100, yearly_discount_percent__lt=100), name="policy_discount_below_100"),
        ]

    def __str__(self) -> str:
        return f"Prices of {self.created_at:%Y-%m-%d %H:%M}: package {dollars(self.package_monthly_cents)}/month"

    def package_cents(self, period: str) -> int:
        """One package for one whole period, its discount applied, rounded half up to the cent."""
        months = PERIOD_MONTHS[period]
        discount = {Period.MONTHLY: 0, Period.QUARTERLY: self.quarterly_discount_percent, Period.YEARLY: self.yearly_discount_percent}[period]
        return (2 * self.package_monthly_cents * months * (100 - discount) + 100) // 200


class Wallet(models.Model):
    """The client's personal count (WAL-1). Its balance is the sum of its ledger, always; the row
    exists to be locked while an entry is added, and carries the dunning state (DUN-1..5)."""

    client = models.OneToOneField(CLIENT_MODEL, on_delete=models.PROTECT, related_name="wallet")
    created_at = models.DateTimeField(default=timezone.now)
    failed_collections = models.PositiveSmallIntegerField(default=0, help_text=_("Failed collections in a row (DUN-2, DUN-3)."))
    debt_since = models.DateField(null=True, blank=True, help_text=_("The billing day the current debt began (DUN-5)."))
    deletion_scheduled_for = models.DateField(null=True, blank=True, help_text=_("DUN-5: 30 days unpaid."))

    def __str__(self) -> str:
        return f"wallet of {self.client}"


class Card(models.Model):
    """A payment card as the gateway knows it (CARD-1): its token, brand, last four digits,
    expiry and fingerprint; never its number or CVV."""

    class Role(models.TextChoices):
        MAIN = "main", _("Main card")
        BACKUP = "backup", _("Backup card")

    client = models.ForeignKey(CLIENT_MODEL, on_delete=models.PROTECT, related_name="cards")
    role = models.CharField(max_length=6, choices=Role.choices)
    gateway = models.CharField(max_length=20)
    token = models.CharField(max_length=120)
    brand = models.CharField(max_length=20)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    fingerprint = models.CharField(max_length=64, db_index=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "role"], condition=Q(removed_at__isnull=True, verified_at__isnull=False), name="card_one_live_per_role"
            ),
        ]

    def __str__(self) -> str:
        return self.label(self.brand, self.last4)

    @staticmethod
    def label(brand: str, last4: str) -> str:
        """How a card is named to its owner (its number never shown)."""
        return f"{brand} •••• {last4}"


class Subscription(models.Model):
    """The client's PRO subscription (PER-1..7). Periods are anchored on `anchor_date`: the k-th
    period ends on anchor + k periods (31 January → 28 February → 31 March) and the next starts
    the day after; it is renewed by the night of that day (PER-3)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        DEACTIVATED = "deactivated", _("Deactivated")

    client = models.OneToOneField(CLIENT_MODEL, on_delete=models.PROTECT, related_name="subscription")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    period = models.CharField(max_length=10, choices=Period.choices)
    packages = models.PositiveIntegerField(default=1)
    anchor_date = models.DateField(help_text=_("The day the current run of periods began."))
    period_index = models.PositiveIntegerField(default=1, help_text=_("Which period since the anchor this is (from 1)."))
    period_start = models.DateField()
    period_end = models.DateField(help_text=_("The last day of the period, included."))
    package_price_cents = models.PositiveIntegerField(help_text=_("One package for this period, as paid: price changes apply from the next."))
    setup_fee_charged_at = models.DateTimeField(null=True, blank=True, help_text=_("Once in a client's life (DEA-4)."))
    ends_after = models.DateField(null=True, blank=True, help_text=_("DEA-3: a late deactivation ends PRO after this day."))
    activations = models.PositiveIntegerField(default=0, help_text=_("How many times PRO was activated (keys the activation charge)."))
    # Not indexed: nothing looks a subscription up by it (no reverse name; invoices are never
    # deleted), and every renewal moves it: an index would be written 20,000 times a worst night.
    period_invoice = models.ForeignKey(
        "Invoice", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False,
        help_text=_("The invoice of the current period: what a credit for its unused part corrects."),
    )
    activated_at = models.DateTimeField(default=timezone.now)
    deactivated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(packages__gte=1), name="subscription_at_least_one_package"),
            models.CheckConstraint(condition=Q(period_end__gte=models.F("period_start")), name="subscription_period_ends_after_start"),
        ]
        indexes = [models.Index(fields=["status", "period_end"], name="subscription_due")]

    def __str__(self) -> str:
        return self.label(str(self.client), self.packages, self.period, self.period_end)

    @staticmethod
    def label(client: str, packages: int, period: str, period_end) -> str:
        """How a subscription is named (admin, audit): `client` as the client is named."""
        return f"{client}: {packages} × {period} until {period_end}"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def period_days(self) -> int:
        return (self.period_end - self.period_start).days + 1

    def days_left(self, day: datetime.date) -> int:
        """Days of the period from `day` to its end, both included (0 once it has ended)."""
        return max(0, min((self.period_end - day).days + 1, self.period_days))


def period_bounds(*, anchor: datetime.date, period: str, index: int) -> tuple[datetime.date, datetime.date]:
    """Start and last day of the `index`-th period (from 1) anchored on `anchor` (PER-1)."""
    months = PERIOD_MONTHS[period]
    start = anchor if index == 1 else add_months(anchor, months * (index - 1)) + datetime.timedelta(days=1)
    return start, add_months(anchor, months * index)


class NeverDeletedQuerySet(models.QuerySet):
    def delete(self):
        raise AppendOnlyError(f"{self.model.__name__} rows are never deleted.")


class Invoice(models.Model):
    """An invoice or credit note (WAL-6), numbered gaplessly per series and year. Never deleted
    nor edited: a mistake is undone by a credit note that refers to it. The party is copied in."""

    class Kind(models.TextChoices):
        INVOICE = "invoice", _("Invoice")
        CREDIT_NOTE = "credit_note", _("Credit note")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")  # not (fully) collected: its amount is debt
        PAID = "paid", _("Paid")
        UNCOLLECTIBLE = "uncollectible", _("Uncollectible")  # DUN-5 ended PRO with it unpaid

    number = models.CharField(max_length=20, null=True, blank=True, help_text=_("Empty for the moment the night numbers its chunk."))  # noqa: DJ001 (unique, invoice_number_once: NULLs do not collide)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    series = models.CharField(max_length=3)
    year = models.PositiveSmallIntegerField()
    sequence = models.PositiveIntegerField(null=True, blank=True)
    client = models.ForeignKey(CLIENT_MODEL, on_delete=models.PROTECT, related_name="invoices", db_index=False)  # (invoice_client_time)
    client_name = models.CharField(max_length=150)
    client_email = models.EmailField()
    issued_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField()
    total_cents = models.IntegerField()
    status = models.CharField(max_length=13, choices=Status.choices, default=Status.OPEN)
    paid_at = models.DateTimeField(null=True, blank=True, help_text=_("When its amount was collected."))
    corrects = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="credit_notes", db_index=False)
    late_fee_for = models.ForeignKey(  # one per invoice: invoice_one_late_fee
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="late_fee_invoice", db_index=False,
        help_text=_("The overdue invoice this late fee is for (once per invoice, WAL-6)."),
    )
    reference = models.CharField(max_length=120, help_text=_("What it is for, e.g. activation:12:1."))

    objects = NeverDeletedQuerySet.as_manager()

    class Meta:
        ordering = ["-issued_at", "-id"]
        # Unique as constraints, not `unique=True`, and no index a lookup does not use: every index
        # is written for each of the night's thousands of rows (a varchar's `unique=True` adds a
        # second, LIKE index; a foreign key's own index is redundant next to one that starts with it).
        constraints = [
            models.UniqueConstraint(fields=["series", "year", "sequence"], name="invoice_gapless_number"),
            models.UniqueConstraint(fields=["number"], name="invoice_number_once"),
            models.UniqueConstraint(fields=["late_fee_for"], name="invoice_one_late_fee", condition=Q(late_fee_for__isnull=False)),
        ]
        indexes = [
            models.Index(fields=["client", "-issued_at"], name="invoice_client_time"),
            models.Index(fields=["client", "issued_at"], name="invoice_unpaid", condition=Q(status__in=["open", "uncollectible"])),
            models.Index(fields=["corrects"], name="invoice_corrects", condition=Q(corrects__isnull=False)),
        ]

    def __str__(self) -> str:
        title = "Credit note" if self.kind == self.Kind.CREDIT_NOTE else "Invoice"
        return f"{title} {self.number}" if self.number else f"{title.lower()} {self.pk} (being numbered)"

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Invoices are never deleted: issue a credit note.")


class InvoiceLine(AppendOnlyModel):
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    description = models.CharField(max_length=300)
    amount_cents = models.IntegerField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.description}: {dollars(self.amount_cents)}"


class InvoiceSequence(models.Model):
    """The last number taken per series and year: locked while a number is taken, in the same
    transaction as the invoice, so that numbers are gapless whatever runs at once."""

    series = models.CharField(max_length=3)
    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["series", "year"], name="invoice_sequence_once")]

    def __str__(self) -> str:
        return f"{self.series}-{self.year}: last number {self.last}"


class PaymentAttempt(models.Model):
    """Every call to the gateway that moves money (CARD-3), an explicit state machine whose every
    step is committed before the next (PER-7):

        created → sent → succeeded | failed | unknown;  unknown → succeeded | failed;  succeeded → booked

    `created`: recorded, never sent. `sent`: the call may have reached the gateway. `unknown`: no
    answer came. `booked`: the money is in the wallet's ledger. Whoever works on an attempt holds
    its lease (`lease_owner` until `leased_until`, longer than a gateway call); reconciliation
    never decides an attempt whose lease still holds. An attempt whose outcome is unknown is
    settled by asking the gateway for its key, never sent as a new charge."""

    class Kind(models.TextChoices):
        VERIFICATION = "verification", "Card verification"
        CHARGE = "charge", "Charge"
        REFUND = "refund", "Refund"

    class Status(models.TextChoices):
        CREATED = "created", "Created, not sent"
        SENT = "sent", "Sent"
        SUCCEEDED = "succeeded", "Succeeded, not booked"
        FAILED = "failed", "Failed"
        UNKNOWN = "unknown", "Outcome unknown"
        BOOKED = "booked", "Succeeded and booked"

    UNSETTLED = (Status.CREATED, Status.SENT, Status.UNKNOWN)
    TAKEN = (Status.SUCCEEDED, Status.BOOKED)  # the gateway took the money

    client = models.ForeignKey(CLIENT_MODEL, on_delete=models.PROTECT, related_name="payment_attempts")
    card = models.ForeignKey(Card, null=True, blank=True, on_delete=models.PROTECT, related_name="attempts", db_index=False)  # (cards are never deleted)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    amount_cents = models.PositiveIntegerField()
    purpose = models.CharField(max_length=200)
    # What the attempt pays for (e.g. `activation:12:1`): a definitive failure makes the next try a
    # new attempt (`try_number` + 1) with a new key, so that a new card can pay.
    purpose_key = models.CharField(max_length=200, blank=True)
    try_number = models.PositiveSmallIntegerField(default=1)
    books_as = models.CharField(max_length=20, blank=True, help_text=_("The ledger kind the money is booked as."))
    idempotency_key = models.CharField(max_length=255)
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.CREATED)
    failure_code = models.CharField(max_length=60, blank=True)
    gateway = models.CharField(max_length=20)
    gateway_reference = models.CharField(max_length=120, blank=True)
    refunds = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="refunded_by", db_index=False)
    lease_owner = models.CharField(max_length=60, blank=True)
    leased_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    booked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [("refund_payment", "Can refund a card payment (WAL-3)"), ("credit_wallet", "Can credit a client's wallet (WAL-3)")]
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["idempotency_key"], name="payment_attempt_key_once")]  # (see Invoice.Meta)
        indexes = [
            models.Index(fields=["status"], name="payment_attempt_open", condition=Q(status__in=["created", "sent", "unknown", "succeeded"])),
            models.Index(fields=["purpose_key"], name="payment_attempt_purpose"),
            models.Index(fields=["refunds"], name="payment_attempt_refunds", condition=Q(refunds__isnull=False)),
        ]

    def __str__(self) -> str:
        return self.label(self.kind, self.amount_cents, self.status)

    @classmethod
    def label(cls, kind: str, amount_cents: int, status: str) -> str:
        """How an attempt is named (admin, audit), from its values."""
        return f"{cls.Kind(kind).label} of ${amount_cents / 100:,.2f}: {cls.Status(status).label.lower()}"

    @property
    def booked(self) -> bool:
        return self.status == self.Status.BOOKED

    @property
    def taken(self) -> bool:
        return self.status in self.TAKEN


class IdempotencyRecord(models.Model):
    """A request's `Idempotency-Key` as Stripe keeps it: bound to the operation and its
    parameters; a replay returns the first answer; the same key with other parameters is refused
    before anything is charged. Keys are the client's own (unique per client), up to 255."""

    client = models.ForeignKey(CLIENT_MODEL, on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=255)
    operation = models.CharField(max_length=40)
    parameters = models.CharField(max_length=64, help_text=_("A digest of the request's parameters."))
    server_made = models.BooleanField(default=False, help_text=_("Made by the platform for a request that sent none."))
    attempt = models.ForeignKey("PaymentAttempt", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True, help_text=_("The final answer's status, once there is one."))
    response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "key"], name="idempotency_key_once_per_client")]

    def __str__(self) -> str:
        return f"{self.operation} {self.key[:20]}"


class SandboxCharge(models.Model):
    """The sandbox gateway's own memory (CARD-3): what it charged, by idempotency key, in the
    database so that every process sees it (a worker, the web, a test) as a real gateway would."""

    idempotency_key = models.CharField(max_length=255)
    kind = models.CharField(max_length=6, default="charge")  # charge, refund
    status = models.CharField(max_length=9)
    amount_cents = models.PositiveIntegerField()
    reference = models.CharField(max_length=40, blank=True)
    failure_code = models.CharField(max_length=60, blank=True)
    customer_ref = models.CharField(max_length=60, blank=True)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["idempotency_key"], name="sandbox_charge_key_once")]  # (see Invoice.Meta)

    def __str__(self) -> str:
        return f"Sandbox {self.kind} of {dollars(self.amount_cents)}: {self.status}"


class LedgerEntry(AppendOnlyModel):
    """One movement of the wallet (WAL-1): credits positive, debits negative, each with its kind,
    a description in the client's words, a reference to its cause and a unique idempotency key."""

    class Kind(models.TextChoices):
        CARD_PAYMENT = "card_payment", _("Paid by card")
        TOP_UP = "top_up", _("Top-up")
        VERIFICATION = "verification", _("Card verification credit")
        FEE = "fee", _("PRO fee")
        SETUP_FEE = "setup_fee", _("Set-up fee")
        PACKAGE_CHANGE = "package_change", _("Packages added")
        UNUSED_CREDIT = "unused_credit", _("Unused time credited")
        DUPLICATE_CREDIT = "duplicate_credit", _("Duplicate payment credited")
        STAFF_CREDIT = "staff_credit", _("Credit by staff")
        STAFF_REFUND = "staff_refund", _("Refunded to the card")
        LATE_FEE = "late_fee", _("Late fee")

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="entries", db_index=False)  # (ledger_wallet_time)
    amount_cents = models.IntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    description = models.CharField(max_length=300)
    reference = models.CharField(max_length=120)
    idempotency_key = models.CharField(max_length=160)
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="entries")
    payment = models.ForeignKey(PaymentAttempt, null=True, blank=True, on_delete=models.PROTECT, related_name="entries", db_index=False)
    actor = models.ForeignKey(CLIENT_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = _("ledger entries")
        indexes = [  # (see Invoice.Meta) most entries have no payment and no actor: only those that do are indexed
            models.Index(fields=["wallet", "-created_at"], name="ledger_wallet_time"),
            models.Index(fields=["payment"], name="ledger_entry_payment", condition=Q(payment__isnull=False)),
            models.Index(fields=["actor"], name="ledger_entry_actor", condition=Q(actor__isnull=False)),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(amount_cents=0), name="ledger_entry_not_zero"),
            models.UniqueConstraint(fields=["idempotency_key"], name="ledger_entry_key_once"),
        ]

    def __str__(self) -> str:
        return f"{'+' if self.amount_cents > 0 else ''}{dollars(self.amount_cents)} {self.get_kind_display().lower()}"


class PeriodChangeRequest(models.Model):
    """A client's request for a shorter period, for staff to approve or refuse (PER-5)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for staff")
        APPROVED = "approved", _("Approved")
        REFUSED = "refused", _("Refused")

    client = models.ForeignKey(CLIENT_MODEL, on_delete=models.PROTECT, related_name="period_requests")
    from_period = models.CharField(max_length=10, choices=Period.choices)
    to_period = models.CharField(max_length=10, choices=Period.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    requested_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(CLIENT_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    staff_note = models.CharField(max_length=300, blank=True)

    class Meta:
        permissions = [("approve_period_change", "Can approve or refuse a period change request (PER-4)")]
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["client"], condition=Q(status="pending"), name="period_request_one_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.client}: {self.from_period} → {self.to_period} ({self.status})"



class Dispute(models.Model):
    """A payment the client (or its bank) disputes: a chargeback, a complaint about a charge. While
    it is open, it is a hold on the client's erasure (CMP-2): the records it turns on are kept."""

    client = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="disputes")
    payment = models.ForeignKey(PaymentAttempt, null=True, blank=True, on_delete=models.PROTECT, related_name="disputes")
    reference = models.CharField(max_length=100, blank=True, help_text=_("The gateway's or the bank's case number."))
    amount_cents = models.PositiveIntegerField()
    note = models.TextField(blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["client"], condition=models.Q(closed_at__isnull=True), name="dispute_open_by_client")]

    def __str__(self) -> str:
        return f"Dispute of {dollars(self.amount_cents)} by client {self.client_id} ({'closed' if self.closed_at else 'open'})"

class FreeAccountFlag(models.Model):
    """TAR-6: two Free accounts that look like one person, for staff to look at."""

    class Match(models.TextChoices):
        EMAIL = "email", "Verified email"
        PHONE = "phone", "Phone number"
        CARD = "card", "Card fingerprint"

    client = models.ForeignKey(CLIENT_MODEL, on_delete=models.PROTECT, related_name="free_flags")
    other = models.ForeignKey(CLIENT_MODEL, on_delete=models.PROTECT, related_name="+")
    matched_on = models.CharField(max_length=5, choices=Match.choices)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(CLIENT_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["client", "other", "matched_on"], name="free_flag_once")]

    def __str__(self) -> str:
        return f"{self.client} ~ {self.other} ({self.matched_on})"
