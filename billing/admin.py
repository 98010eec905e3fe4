"""Billing's staff console (issue 16): every amount in dollars, every action that writes first on a
page that says what will happen, to whom and at what cost (and asks a reason where a rule wants
one), then answered in one sentence. The admin translates and calls billing's services; it decides
nothing itself."""

from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline

from accounts.models import Client
from billing import night as night_module
from billing import services
from billing.gateways import GatewayUnavailable
from billing.models import (
    Card,
    Dispute,
    FreeAccountFlag,
    IdempotencyRecord,
    Invoice,
    InvoiceLine,
    LedgerEntry,
    NightlyRun,
    NightlyStep,
    PaymentAttempt,
    Period,
    PeriodChangeRequest,
    PolicySettings,
    SandboxCharge,
    Subscription,
    Wallet,
)
from billing.pdf import invoice_pdf
from core.admin import ReadOnlyAdmin, confirmation, confirmed, reason_given, refusal
from core.clock import billing_date
from core.exceptions import RuleRefused
from core.money import dollars, prorate_formula

DRY_RUN_ROWS = 500  # rows shown per step of a dry run's table (the totals count them all)

# --- helpers --------------------------------------------------------------------------------------


def money(field: str, description):
    """A list or detail column showing a cents field in dollars."""

    @admin.display(description=description, ordering=field)
    def show(self, obj) -> str:
        value = getattr(obj, field)
        return "—" if value is None else dollars(value)

    return show


def client_link(client_id, label=None) -> str:
    """The client's own admin page, as a link."""
    if not client_id:
        return "—"
    return format_html('<a href="{}" class="text-primary-600 underline">{}</a>', reverse("admin:accounts_client_change", args=[client_id]),
                       label or gettext("client %(id)s") % {"id": client_id})


def buttons(*links: tuple[str, str]) -> str:
    """A row's action links (already filtered by the staff member's permissions)."""
    return format_html_join(" ", '<a href="{}" class="text-primary-600 font-semibold underline">{}</a>', links) if links else "—"


class AmountForm(forms.Form):
    """An amount in dollars, as staff type it ($12.50), turned into cents for the services."""

    amount = forms.DecimalField(label=_("Amount in dollars"), min_value=Decimal("0.01"), max_value=Decimal("1000000"), max_digits=10, decimal_places=2)

    def __init__(self, *args, required: bool = True, help_text: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount"].required = required
        self.fields["amount"].help_text = help_text

    @property
    def cents(self) -> int | None:
        amount = self.cleaned_data.get("amount")
        return None if amount is None else int(amount * 100)


class NoteForm(forms.Form):
    note = forms.CharField(label=_("Note to the client (optional, emailed with the decision)"), required=False, max_length=300,
                           widget=forms.Textarea(attrs={"rows": 2}))


def page(modeladmin, request, *, title: str, question: str, rows: list[str], submit: str, back: str, ask_reason: bool = False,
         form: forms.Form | None = None, error: str = "", reason_label: str = "", admin_action: str = "", ids=(),
         template: str = "admin/billing/confirm.html", extra: dict | None = None) -> TemplateResponse:
    """The confirmation page of a billing action (core.admin.confirmation's, with an amount or a
    note when the action takes one, the service's refusal, and a way back)."""
    response = confirmation(modeladmin, request, admin_action=admin_action, title=title, question=question, rows=rows, ids=list(ids),
                            submit=submit, ask_reason=ask_reason,
                            extra={"form": form, "error": error, "back_url": back, "reason_label": reason_label, **(extra or {})})
    response.template_name = template
    return response


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def changelist_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def deny_unless(request, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


class ButtonsMixin:
    """The change page shows the object's actions (those the staff member may take) above it."""

    change_form_template = "admin/billing/change_form.html"

    def object_buttons(self, request, obj) -> list[tuple[str, str]]:
        return []

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        context = {**(extra_context or {}), "object_buttons": self.object_buttons(request, obj) if obj is not None else []}
        return super().change_view(request, object_id, form_url, context)


# --- prices and policy ----------------------------------------------------------------------------


class PolicyForm(forms.ModelForm):
    class Meta:
        model = PolicySettings
        fields = [*services.POLICY_FIELDS, "note"]

    def clean(self):
        cleaned = super().clean()
        try:
            services.check_policy_changes({name: cleaned[name] for name in services.POLICY_FIELDS if name in cleaned})
        except RuleRefused as exc:
            raise ValidationError(refusal(exc)) from None
        return cleaned


def period_prices(policy: PolicySettings) -> str:
    return ", ".join(f"{Period(p).label.lower()} {dollars(policy.package_cents(p))}" for p in Period.values)


@admin.register(PolicySettings)
class PolicySettingsAdmin(ModelAdmin):
    """Prices and policy with their history: 'add' makes the new version, in force from now on for
    periods that start from now (TAR-4). Versions are never edited (append-only): adding one needs
    `billing.add_policysettings`; the add page shows what is in force and what a change does."""

    form = PolicyForm
    change_form_template = "admin/billing/policysettings/change_form.html"
    package = money("package_monthly_cents", _("package a month"))
    setup_fee = money("setup_fee_cents", _("set-up fee"))
    late_fee = money("late_fee_cents", _("late fee"))
    list_display = ["created_at", "package", "per_period", "quarterly_discount_percent", "yearly_discount_percent", "setup_fee", "late_fee",
                    "prorate_on_cancel", "cancel_notice_business_days", "grace_days", "refund_window_days", "retention_days", "created_by", "note"]
    list_filter = ["prorate_on_cancel", "created_at"]
    search_fields = ["note", "created_by__email"]
    list_select_related = ["created_by"]
    shown = ["created_at", "created_by", "note", "package", "per_period", "quarterly_discount_percent", "yearly_discount_percent", "setup_fee",
             "late_fee", "prorate_on_cancel", "cancel_notice_business_days", "grace_days", "retention_days", "refund_window_days"]

    @admin.display(description=_("a package for a period"))
    def per_period(self, policy) -> str:
        return period_prices(policy)

    def get_fields(self, request, obj=None):
        return super().get_fields(request, obj) if obj is None else self.shown

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.shown

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a version is never edited: a change is a new version (add)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_changeform_initial_data(self, request):
        policy = services.current_policy()
        return {name: getattr(policy, name) for name in services.POLICY_FIELDS}

    def add_view(self, request, form_url="", extra_context=None):
        policy = services.current_policy()
        pro = Subscription.objects.filter(status=Subscription.Status.ACTIVE).count()
        effect = [
            gettext("In force now: a package costs %(package)s a month; for a whole period: %(periods)s; set-up fee %(setup)s, late fee %(late)s.") % {
                "package": dollars(policy.package_monthly_cents), "periods": period_prices(policy), "setup": dollars(policy.setup_fee_cents),
                "late": dollars(policy.late_fee_cents)},
            gettext("Amounts are typed in cents (1000 = $10.00); a package may not cost less than $10.00 a month (TAR-4)."),
            gettext("A new price applies to periods that start from now: running periods keep the price they were paid at."),
            ngettext("If a package's price changes, the %(count)s PRO client is emailed before its next period (NTF-1, ToU 13.3).",
                     "If a package's price changes, the %(count)s PRO clients are emailed before their next period (NTF-1, ToU 13.3).", pro) % {"count": pro},
        ]
        return super().add_view(request, form_url, {**(extra_context or {}), "policy_effect": effect})

    def save_model(self, request, obj, form, change):
        before = services.current_policy()
        changes = {name: form.cleaned_data[name] for name in services.POLICY_FIELDS}
        saved = services.change_policy(actor=request.user, note=form.cleaned_data.get("note", ""), **changes)
        obj.pk, obj._state.adding = saved.pk, False
        changed = [name for name in services.POLICY_FIELDS if getattr(before, name) != getattr(saved, name)]
        if not changed:
            sentence = gettext("A new version with the same prices and policy is in force.")
        elif any(before.package_cents(p) != saved.package_cents(p) for p in Period.values):
            sentence = gettext("New prices are in force for periods that start from now (%(before)s → %(after)s); PRO clients are emailed ahead (NTF-1).") % {
                "before": period_prices(before), "after": period_prices(saved)}
        else:
            sentence = gettext("The new policy is in force from now on (changed: %(fields)s).") % {
                "fields": ", ".join(str(PolicySettings._meta.get_field(name).verbose_name) for name in changed)}
        self.message_user(request, sentence, messages.SUCCESS)


# --- wallets and the ledger -----------------------------------------------------------------------


class LedgerInline(TabularInline):
    model = LedgerEntry
    amount = money("amount_cents", _("amount"))
    fields = ["created_at", "amount", "kind", "description", "invoice", "reference", "actor"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-created_at", "-id"]
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Wallet)
class WalletAdmin(ButtonsMixin, ReadOnlyAdmin):
    list_display = ["client", "balance", "failed_collections", "debt_since", "deletion_scheduled_for"]
    list_filter = [("debt_since", admin.EmptyFieldListFilter), ("deletion_scheduled_for", admin.EmptyFieldListFilter), "failed_collections"]
    search_fields = ["client__email", "client__name"]
    list_select_related = ["client"]
    fields = ["client", "balance", "created_at", "failed_collections", "debt_since", "deletion_scheduled_for"]
    readonly_fields = fields
    inlines = [LedgerInline]
    actions = ["credit_wallets"]

    def get_queryset(self, request):
        return _with_balance(super().get_queryset(request))

    @admin.display(description=_("balance"), ordering="balance_cents")
    def balance(self, wallet) -> str:
        return dollars(wallet.balance_cents)

    def get_list_display(self, request):
        return [*self.list_display, "do"] if self.has_credit_permission(request) else self.list_display

    @admin.display(description=_("actions"))
    def do(self, wallet) -> str:
        return buttons((reverse("admin:billing_wallet_credit", args=[wallet.pk]), gettext("Credit…")))

    def object_buttons(self, request, wallet):
        return [(reverse("admin:billing_wallet_credit", args=[wallet.pk]), gettext("Credit the wallet…"))] if self.has_credit_permission(request) else []

    def has_credit_permission(self, request) -> bool:
        return request.user.has_perm("billing.credit_wallet")

    def get_urls(self):
        return [path("<int:pk>/credit/", self.admin_site.admin_view(self.credit_view), name="billing_wallet_credit"), *super().get_urls()]

    def credit_view(self, request, pk: int):
        """WAL-3: staff credit a wallet, with a reason (audit log) and a credit note (WAL-6)."""
        deny_unless(request, "billing.credit_wallet")
        wallet = get_object_or_404(self.get_queryset(request).select_related("client"), pk=pk)
        form, error = AmountForm(request.POST if confirmed(request) else None), ""
        if confirmed(request) and form.is_valid() and (reason := reason_given(request)):
            try:
                entry = services.staff_credit(client=wallet.client, amount_cents=form.cents, reason=reason, actor=request.user)
            except (RuleRefused, ValidationError) as exc:
                error = refusal(exc)
            else:
                note = entry.invoice.number if entry is not None and entry.invoice_id and entry.invoice.number else ""
                self.message_user(request, gettext("Credited %(amount)s to the wallet of %(client)s: its balance is %(balance)s%(note)s.") % {
                    "amount": dollars(form.cents), "client": wallet.client, "balance": dollars(services.balance_cents(wallet)),
                    "note": (gettext(", credit note %(number)s") % {"number": note}) if note else ""}, messages.SUCCESS)
                return HttpResponseRedirect(change_url(wallet))
        return page(
            self, request, title=gettext("Credit the wallet of %(client)s") % {"client": wallet.client},
            question=gettext("Credit this wallet? The money stays in the wallet for the client's fees; nothing goes to a card (WAL-3)."),
            rows=[gettext("Client: %(client)s") % {"client": wallet.client},
                  gettext("Balance now: %(balance)s") % {"balance": dollars(wallet.balance_cents)},
                  gettext("A credit note is issued for the amount (WAL-6); the reason is kept in the audit log.")],
            submit=gettext("Yes, credit the wallet"), back=change_url(wallet), ask_reason=True, form=form, error=error)

    @admin.action(description=_("Credit the selected wallets…"), permissions=["credit"])
    def credit_wallets(self, request, queryset):
        wallets = list(queryset.select_related("client"))
        form = AmountForm(request.POST if confirmed(request) else None)
        if confirmed(request) and form.is_valid() and (reason := reason_given(request)):
            done, refused = 0, []
            for wallet in wallets:
                try:
                    services.staff_credit(client=wallet.client, amount_cents=form.cents, reason=reason, actor=request.user)
                    done += 1
                except (RuleRefused, ValidationError) as exc:
                    refused.append(f"{wallet.client}: {refusal(exc)}")
            if done:
                self.message_user(request, ngettext("Credited %(amount)s to %(count)s wallet.", "Credited %(amount)s to each of %(count)s wallets.", done) % {
                    "amount": dollars(form.cents), "count": done}, messages.SUCCESS)
            for sentence in refused:
                self.message_user(request, sentence, messages.ERROR)
            return None
        return page(
            self, request, title=gettext("Credit the selected wallets"),
            question=gettext("Credit each of these wallets with the amount below? Each gets a credit note (WAL-3, WAL-6)."),
            rows=[gettext("%(client)s: balance %(balance)s") % {"client": w.client, "balance": dollars(w.balance_cents)} for w in wallets],
            submit=gettext("Yes, credit them"), back=changelist_url(Wallet), ask_reason=True, form=form, admin_action=self.credit_wallets.__name__,
            ids=[w.pk for w in wallets])


def _with_balance(queryset):
    """Each wallet with its balance, the sum of its ledger (WAL-1), in the same query."""
    total = LedgerEntry.objects.filter(wallet=OuterRef("pk")).order_by().values("wallet").annotate(t=Sum("amount_cents")).values("t")
    return queryset.annotate(balance_cents=Coalesce(Subquery(total, output_field=IntegerField()), Value(0)))


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    amount = money("amount_cents", _("amount"))
    list_display = ["created_at", "wallet", "amount", "kind", "description", "invoice", "reference"]
    list_filter = ["kind", "created_at"]
    search_fields = ["wallet__client__email", "=reference", "=idempotency_key", "description"]
    list_select_related = ["wallet__client", "invoice"]
    fields = ["created_at", "wallet", "amount", "kind", "description", "invoice", "payment", "reference", "idempotency_key", "actor"]
    readonly_fields = fields
    show_full_result_count = False


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    package_price = money("package_price_cents", _("package price"))
    list_display = ["client", "status", "period", "packages", "package_price", "period_total", "period_start", "period_end", "ends_after"]
    list_filter = ["status", "period", ("ends_after", admin.EmptyFieldListFilter)]
    search_fields = ["client__email", "client__name"]
    list_select_related = ["client"]
    fields = ["client", "status", "period", "packages", "package_price", "period_total", "anchor_date", "period_index", "period_start", "period_end",
              "ends_after", "setup_fee_charged_at", "activations", "period_invoice", "activated_at", "deactivated_at"]
    readonly_fields = fields

    @admin.display(description=_("the period's total"))
    def period_total(self, subscription) -> str:
        return dollars(subscription.packages * subscription.package_price_cents)


@admin.register(Card)
class CardAdmin(ReadOnlyAdmin):
    list_display = ["client", "role", "brand", "last4", "exp_month", "exp_year", "verified_at", "removed_at"]
    list_filter = ["role", "brand", ("removed_at", admin.EmptyFieldListFilter)]
    search_fields = ["client__email", "=last4", "=fingerprint"]
    list_select_related = ["client"]
    exclude = ["token"]


# --- invoices -------------------------------------------------------------------------------------


class InvoiceLineInline(TabularInline):
    model = InvoiceLine
    amount = money("amount_cents", _("amount"))
    fields = ["description", "amount"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    total = money("total_cents", _("total"))
    list_display = ["number", "kind", "client", "issued_at", "due_at", "total", "status", "paid_at", "corrects", "pdf"]
    list_filter = ["kind", "status", "year"]
    search_fields = ["=number", "client__email", "=reference"]
    list_select_related = ["client", "corrects"]
    fields = ["number", "kind", "client", "client_name", "client_email", "issued_at", "due_at", "total", "status", "paid_at", "corrects",
              "late_fee_for", "reference", "pdf"]
    readonly_fields = fields
    inlines = [InvoiceLineInline]

    def get_urls(self):
        return [path("<int:pk>/pdf/", self.admin_site.admin_view(self.pdf_view), name="billing_invoice_pdf"), *super().get_urls()]

    def pdf_view(self, request, pk: int):
        invoice = get_object_or_404(Invoice, pk=pk)
        return HttpResponse(invoice_pdf(invoice, operator=settings.SITE_NAME), content_type="application/pdf")

    @admin.display(description=_("PDF"))
    def pdf(self, invoice) -> str:
        return format_html('<a href="{}">PDF</a>', reverse("admin:billing_invoice_pdf", args=[invoice.pk]))


# --- payments -------------------------------------------------------------------------------------


def left_to_refund(payment: PaymentAttempt) -> int:
    """What of a card payment has not been refunded yet (the service checks it again)."""
    refunded = PaymentAttempt.objects.filter(refunds=payment, status__in=PaymentAttempt.TAKEN).aggregate(t=Sum("amount_cents"))["t"] or 0
    return payment.amount_cents - refunded


def refundable(payment: PaymentAttempt) -> bool:
    return payment.status in PaymentAttempt.TAKEN and payment.kind != PaymentAttempt.Kind.REFUND


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(ButtonsMixin, ReadOnlyAdmin):
    amount = money("amount_cents", _("amount"))
    list_display = ["created_at", "client", "kind", "amount", "status", "failure_code", "purpose", "try_number", "leased_until"]
    list_filter = ["status", "kind", "gateway"]
    search_fields = ["client__email", "=idempotency_key", "=gateway_reference", "purpose"]
    list_select_related = ["client"]
    fields = ["created_at", "client", "card", "kind", "amount", "status", "failure_code", "purpose", "purpose_key", "try_number", "books_as",
              "idempotency_key", "gateway", "gateway_reference", "refunds", "lease_owner", "leased_until", "sent_at", "completed_at", "booked_at"]
    readonly_fields = fields
    actions = ["reconcile", "refund"]
    show_full_result_count = False

    def has_settle_permission(self, request) -> bool:
        return request.user.has_perm("billing.change_paymentattempt")

    def has_refund_permission(self, request) -> bool:
        return request.user.has_perm("billing.refund_payment")

    def get_list_display(self, request):
        return [*self.list_display, "do"] if self.has_refund_permission(request) else self.list_display

    @admin.display(description=_("actions"))
    def do(self, attempt) -> str:
        return buttons((reverse("admin:billing_paymentattempt_refund", args=[attempt.pk]), gettext("Refund…"))) if refundable(attempt) else "—"

    def object_buttons(self, request, attempt):
        if refundable(attempt) and self.has_refund_permission(request):
            return [(reverse("admin:billing_paymentattempt_refund", args=[attempt.pk]), gettext("Refund to the card…"))]
        return []

    def get_urls(self):
        return [path("<int:pk>/refund/", self.admin_site.admin_view(self.refund_view), name="billing_paymentattempt_refund"), *super().get_urls()]

    def refund_view(self, request, pk: int):
        """WAL-3's exception: money back to the card it came from, with a reason (audit log); the
        wallet is debited the same amount."""
        deny_unless(request, "billing.refund_payment")
        payment = get_object_or_404(PaymentAttempt.objects.select_related("client", "card"), pk=pk)
        left = left_to_refund(payment)
        form = AmountForm(request.POST if confirmed(request) else None, initial={"amount": Decimal(max(left, 0)).scaleb(-2)},
                          help_text=gettext("At most %(left)s is left to refund.") % {"left": dollars(max(left, 0))})
        error = "" if refundable(payment) else gettext("Only a succeeded card payment can be refunded.")
        if confirmed(request) and form.is_valid() and (reason := reason_given(request)):
            try:
                refund = services.staff_refund(payment=payment, amount_cents=form.cents, reason=reason, actor=request.user)
            except (RuleRefused, ValidationError) as exc:
                error = refusal(exc)
            except GatewayUnavailable:
                error = gettext("The payment provider did not answer; try again: the refund will not be made twice.")
            else:
                self.message_user(request, gettext("Refunded %(amount)s to %(card)s of %(client)s; the wallet was debited the same (WAL-3).") % {
                    "amount": dollars(refund.amount_cents), "card": payment.card or gettext("the card"), "client": payment.client}, messages.SUCCESS)
                return HttpResponseRedirect(change_url(payment))
        window = services.current_policy().refund_window_days
        balance = services.balance_cents(services.wallet_of(payment.client))
        return page(
            self, request, title=gettext("Refund %(payment)s") % {"payment": payment},
            question=gettext("Refund this payment to the card it came from? Money paid is otherwise never returned to a card (WAL-3): "
                             "give the reason (undelivered service, within %(days)s days).") % {"days": window},
            rows=[gettext("Client: %(client)s") % {"client": payment.client},
                  gettext("Card: %(card)s") % {"card": payment.card or "—"},
                  gettext("Paid %(amount)s on %(at)s (%(purpose)s)") % {"amount": dollars(payment.amount_cents), "at": f"{payment.created_at:%Y-%m-%d %H:%M}",
                                                                        "purpose": payment.purpose},
                  gettext("Left to refund: %(left)s") % {"left": dollars(max(left, 0))},
                  gettext("The wallet (balance %(balance)s) is debited by the amount refunded.") % {"balance": dollars(balance)}],
            submit=gettext("Yes, refund to the card"), back=change_url(payment), ask_reason=True, form=form, error=error)

    @admin.action(description=_("Reconcile with the gateway: book what was taken, ask it about unanswered ones…"), permissions=["settle"])
    def reconcile(self, request, queryset):
        attempts = list(queryset.filter(status__in=[*PaymentAttempt.UNSETTLED, PaymentAttempt.Status.SUCCEEDED])
                        .exclude(kind=PaymentAttempt.Kind.REFUND).select_related("client"))
        if not confirmed(request):
            return page(
                self, request, title=gettext("Reconcile payments with the gateway"),
                question=gettext("Ask the gateway about each of these and book in the wallet what it took (PER-7)? Nothing is charged again."),
                rows=[f"{a.client}: {a}" for a in attempts] or [gettext("None of the selected payments waits for the gateway.")],
                submit=gettext("Yes, reconcile"), back=changelist_url(PaymentAttempt), admin_action=self.reconcile.__name__, ids=[a.pk for a in attempts])
        done, refused = 0, []
        for attempt in attempts:
            try:
                after = services.reconcile_attempt(attempt=attempt)
            except GatewayUnavailable:
                refused.append(gettext("%(attempt)s: the gateway did not answer; try again later.") % {"attempt": attempt})
                continue
            if after.status in PaymentAttempt.UNSETTLED:
                refused.append(gettext("%(attempt)s: still held by the request or night working on it.") % {"attempt": attempt})
            else:
                done += 1
        if done:
            self.message_user(request, gettext("Reconciled: %(count)s.") % {"count": done}, messages.SUCCESS)
        for sentence in refused:
            self.message_user(request, sentence, messages.ERROR)
        return None

    @admin.action(description=_("Refund the selected payments to their cards…"), permissions=["refund"])
    def refund(self, request, queryset):
        payments = [p for p in queryset.select_related("client", "card") if refundable(p)]
        form = AmountForm(request.POST if confirmed(request) else None, required=False,
                          help_text=gettext("Leave empty to refund what is left of each."))
        if confirmed(request) and form.is_valid() and (reason := reason_given(request)):
            refunded, refused = 0, []
            for payment in payments:
                try:
                    refund = services.staff_refund(payment=payment, amount_cents=form.cents or left_to_refund(payment), reason=reason, actor=request.user)
                    refunded += refund.amount_cents
                except (RuleRefused, ValidationError) as exc:
                    refused.append(f"{payment}: {refusal(exc)}")
                except GatewayUnavailable:
                    refused.append(gettext("%(payment)s: the gateway did not answer; try again.") % {"payment": payment})
            if refunded:
                self.message_user(request, gettext("Refunded %(amount)s to the cards; the wallets were debited the same (WAL-3).") % {
                    "amount": dollars(refunded)}, messages.SUCCESS)
            for sentence in refused:
                self.message_user(request, sentence, messages.ERROR)
            return None
        return page(
            self, request, title=gettext("Refund payments to their cards"),
            question=gettext("Refund each of these payments to its card (WAL-3's exception, with a reason)? Each wallet is debited the same."),
            rows=[gettext("%(client)s: %(payment)s, %(left)s left to refund") % {"client": p.client, "payment": p, "left": dollars(left_to_refund(p))}
                  for p in payments] or [gettext("None of the selected payments can be refunded.")],
            submit=gettext("Yes, refund"), back=changelist_url(PaymentAttempt), ask_reason=True, form=form, admin_action=self.refund.__name__,
            ids=[p.pk for p in payments])


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    """Each request's Idempotency-Key (the client's or the server's), bound to its operation and
    parameters, with the answer it replays."""

    list_display = ["created_at", "client", "operation", "key", "server_made", "status_code", "attempt"]
    list_filter = ["operation", "server_made", "status_code"]
    search_fields = ["=key", "client__email"]
    list_select_related = ["client", "attempt"]
    show_full_result_count = False


@admin.register(SandboxCharge)
class SandboxChargeAdmin(ReadOnlyAdmin):
    """What the built-in sandbox gateway took (CARD-3): the other side of every payment attempt."""

    amount = money("amount_cents", _("amount"))
    list_display = ["created_at", "kind", "amount", "status", "failure_code", "customer_ref", "idempotency_key"]
    list_filter = ["kind", "status"]
    search_fields = ["=idempotency_key", "=customer_ref", "=reference"]
    fields = ["created_at", "kind", "amount", "status", "failure_code", "customer_ref", "reference", "description", "idempotency_key"]
    readonly_fields = fields
    show_full_result_count = False


# --- period change requests (PER-5) ---------------------------------------------------------------


@admin.register(PeriodChangeRequest)
class PeriodChangeRequestAdmin(ButtonsMixin, ModelAdmin):
    list_display = ["requested_at", "client", "from_period", "to_period", "status", "decided_by", "decided_at", "staff_note"]
    list_filter = ["status", "to_period", "from_period"]
    search_fields = ["client__email", "client__name", "staff_note"]
    list_select_related = ["client", "decided_by"]
    readonly_fields = ["client", "from_period", "to_period", "status", "requested_at", "decided_at", "decided_by"]
    fields = [*readonly_fields, "staff_note"]
    actions = ["approve", "refuse"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_decide_permission(self, request) -> bool:
        return request.user.has_perm("billing.approve_period_change")

    def get_list_display(self, request):
        return [*self.list_display, "do"] if self.has_decide_permission(request) else self.list_display

    def _links(self, change) -> list[tuple[str, str]]:
        if change.status != PeriodChangeRequest.Status.PENDING:
            return []
        return [(reverse("admin:billing_periodchangerequest_approve", args=[change.pk]), gettext("Approve…")),
                (reverse("admin:billing_periodchangerequest_refuse", args=[change.pk]), gettext("Refuse…"))]

    @admin.display(description=_("actions"))
    def do(self, change) -> str:
        return buttons(*self._links(change))

    def object_buttons(self, request, change):
        return self._links(change) if self.has_decide_permission(request) else []

    def get_urls(self):
        return [
            path("<int:pk>/approve/", self.admin_site.admin_view(self.approve_view), name="billing_periodchangerequest_approve"),
            path("<int:pk>/refuse/", self.admin_site.admin_view(self.refuse_view), name="billing_periodchangerequest_refuse"),
            *super().get_urls(),
        ]

    def _terms(self, change) -> list[str]:
        """What approving does to the client's money (PER-4, PER-5), as the service will compute it."""
        rows = [gettext("Client: %(client)s") % {"client": change.client},
                gettext("Asked on %(at)s: %(from)s → %(to)s") % {"at": f"{change.requested_at:%Y-%m-%d}", "from": change.get_from_period_display(),
                                                                  "to": change.get_to_period_display()}]
        subscription = Subscription.objects.filter(client=change.client).first()
        if subscription is None or not subscription.is_active:
            return [*rows, gettext("PRO is not active any more: refuse the request.")]
        today = billing_date()
        price = services.current_policy().package_cents(change.to_period)
        unused, formula = prorate_formula(packages=subscription.packages, price_cents=subscription.package_price_cents,
                                          days=subscription.days_left(today), period_days=subscription.period_days)
        charge = subscription.packages * price
        return [*rows,
                gettext("Now: %(subscription)s") % {"subscription": subscription},
                gettext("If approved, from today: %(count)s × %(price)s = %(charge)s for the new period, charged from the wallet first, then the card (WAL-2)") % {
                    "count": subscription.packages, "price": dollars(price), "charge": dollars(charge)},
                gettext("The unused part is credited: %(formula)s (PER-4); the longer period's discount is lost (PER-5)") % {"formula": formula},
                gettext("Net cost to the client: %(net)s") % {"net": dollars(charge - unused)},
                gettext("The client is emailed the decision (NTF-1).")]

    def approve_view(self, request, pk: int):
        deny_unless(request, "billing.approve_period_change")
        change = get_object_or_404(PeriodChangeRequest.objects.select_related("client"), pk=pk)
        form, error = NoteForm(request.POST if confirmed(request) else None, initial={"note": change.staff_note}), ""
        if confirmed(request) and form.is_valid():
            try:
                services.approve_period_change(request=change, actor=request.user, note=form.cleaned_data["note"].strip())
            except (RuleRefused, ValidationError) as exc:
                error = refusal(exc)
            else:
                self.message_user(request, gettext("Approved: %(client)s is %(period)s from today, and is emailed the decision.") % {
                    "client": change.client, "period": change.get_to_period_display().lower()}, messages.SUCCESS)
                return HttpResponseRedirect(change_url(change))
        return page(self, request, title=gettext("Approve a shorter period for %(client)s") % {"client": change.client},
                    question=gettext("Approve the switch? It takes effect at once."), rows=self._terms(change),
                    submit=gettext("Yes, approve"), back=change_url(change), form=form, error=error)

    def refuse_view(self, request, pk: int):
        deny_unless(request, "billing.approve_period_change")
        change = get_object_or_404(PeriodChangeRequest.objects.select_related("client"), pk=pk)
        error = ""
        if confirmed(request) and (reason := reason_given(request)):
            try:
                services.refuse_period_change(request=change, actor=request.user, note=reason)
            except (RuleRefused, ValidationError) as exc:
                error = refusal(exc)
            else:
                self.message_user(request, gettext("Refused: %(client)s stays %(period)s, and is emailed the decision with your reason.") % {
                    "client": change.client, "period": change.get_from_period_display().lower()}, messages.SUCCESS)
                return HttpResponseRedirect(change_url(change))
        rows = [gettext("Client: %(client)s") % {"client": change.client},
                gettext("Asked: %(from)s → %(to)s; the subscription stays %(from)s and nothing is charged or credited.") % {
                    "from": change.get_from_period_display(), "to": change.get_to_period_display()},
                gettext("The client is emailed the decision with the reason (NTF-1).")]
        return page(self, request, title=gettext("Refuse the period change of %(client)s") % {"client": change.client},
                    question=gettext("Refuse the request?"), rows=rows, submit=gettext("Yes, refuse"), back=change_url(change), ask_reason=True,
                    reason_label=gettext("Reason (emailed to the client and kept in the audit log)"), error=error)

    def _decide(self, request, queryset, approve: bool):
        changes = list(queryset.filter(status=PeriodChangeRequest.Status.PENDING).select_related("client"))
        reason = reason_given(request) if confirmed(request) and not approve else None
        if not confirmed(request) or (not approve and not reason):
            return page(
                self, request, title=gettext("Approve shorter periods") if approve else gettext("Refuse period changes"),
                question=gettext("Approve each of these? Each switch takes effect at once (PER-5): the unused part is credited, the new period charged in full; "
                                 "each client is emailed.") if approve else gettext("Refuse each of these? Each client is emailed the decision with the reason."),
                rows=[f"{c.client}: {c.get_from_period_display()} → {c.get_to_period_display()}" for c in changes]
                or [gettext("None of the selected requests waits for a decision.")],
                submit=gettext("Yes, approve") if approve else gettext("Yes, refuse"), back=changelist_url(PeriodChangeRequest), ask_reason=not approve,
                admin_action=(self.approve if approve else self.refuse).__name__, ids=[c.pk for c in changes])
        done, refused = 0, []
        for change in changes:
            try:
                if approve:
                    services.approve_period_change(request=change, actor=request.user, note=change.staff_note)
                else:
                    services.refuse_period_change(request=change, actor=request.user, note=reason)
                done += 1
            except (RuleRefused, ValidationError) as exc:
                refused.append(f"{change}: {refusal(exc)}")
        if done:
            sentence = (ngettext("Approved %(count)s request; the client is emailed.", "Approved %(count)s requests; each client is emailed.", done) if approve
                        else ngettext("Refused %(count)s request; the client is emailed.", "Refused %(count)s requests; each client is emailed.", done))
            self.message_user(request, sentence % {"count": done}, messages.SUCCESS)
        for sentence in refused:
            self.message_user(request, sentence, messages.ERROR)
        return None

    @admin.action(description=_("Approve the shorter periods (PER-5)…"), permissions=["decide"])
    def approve(self, request, queryset):
        return self._decide(request, queryset, approve=True)

    @admin.action(description=_("Refuse the period changes (reason required)…"), permissions=["decide"])
    def refuse(self, request, queryset):
        return self._decide(request, queryset, approve=False)


# --- disputes (CMP-2) -----------------------------------------------------------------------------


class DisputeAddForm(forms.ModelForm):
    class Meta:
        model = Dispute
        fields = ["client", "payment", "reference", "amount_cents", "note"]

    def clean(self):
        data = super().clean()
        for field, errors in services.dispute_errors(client=data.get("client"), payment=data.get("payment"), amount_cents=data.get("amount_cents")).items():
            self.add_error(field, errors)
        return data


@admin.register(Dispute)
class DisputeAdmin(ButtonsMixin, ModelAdmin):
    """Disputed payments (CMP-2's hold): recorded by staff, closed with their outcome."""

    amount = money("amount_cents", _("amount"))
    list_display = ["opened_at", "client", "amount", "payment", "reference", "closed_at", "outcome"]
    list_filter = [("closed_at", admin.EmptyFieldListFilter), "opened_at"]
    search_fields = ["client__email", "reference", "outcome"]
    list_select_related = ["client", "payment"]
    raw_id_fields = ["client", "payment"]
    readonly_fields = ["client", "payment", "reference", "amount", "note", "opened_at", "opened_by", "closed_at", "closed_by", "outcome"]
    actions = ["close"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = DisputeAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_fields(self, request, obj=None):
        return DisputeAddForm.Meta.fields if obj is None else self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_list_display(self, request):
        return [*self.list_display, "do"] if self.has_change_permission(request) else self.list_display

    @admin.display(description=_("actions"))
    def do(self, dispute) -> str:
        return "—" if dispute.closed_at else buttons((reverse("admin:billing_dispute_close", args=[dispute.pk]), gettext("Close…")))

    def object_buttons(self, request, dispute):
        if dispute.closed_at is None and self.has_change_permission(request, dispute):
            return [(reverse("admin:billing_dispute_close", args=[dispute.pk]), gettext("Close the dispute…"))]
        return []

    def get_urls(self):
        return [path("<int:pk>/close/", self.admin_site.admin_view(self.close_view), name="billing_dispute_close"), *super().get_urls()]

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing is edited in place: a dispute is closed by its page, with its outcome
        opened = services.open_dispute(client=obj.client, payment=obj.payment, amount_cents=obj.amount_cents, reference=obj.reference,
                                       note=obj.note, actor=request.user)
        obj.pk, obj.opened_at, obj.opened_by = opened.pk, opened.opened_at, opened.opened_by

    def _rows(self, dispute) -> list[str]:
        return [gettext("Client: %(client)s") % {"client": dispute.client},
                gettext("Disputed: %(amount)s%(payment)s, opened %(at)s") % {
                    "amount": dollars(dispute.amount_cents), "payment": f" ({dispute.payment})" if dispute.payment_id else "",
                    "at": f"{dispute.opened_at:%Y-%m-%d}"},
                gettext("Closing it ends its hold on the client's erasure (CMP-2); no money moves.")]

    def close_view(self, request, pk: int):
        dispute = get_object_or_404(Dispute.objects.select_related("client", "payment"), pk=pk)
        if not self.has_change_permission(request, dispute):
            raise PermissionDenied
        error = "" if dispute.closed_at is None else gettext("This dispute is closed already.")
        if confirmed(request) and dispute.closed_at is None and (outcome := reason_given(request)):
            try:
                services.close_dispute(dispute=dispute, actor=request.user, outcome=outcome)
            except (RuleRefused, ValidationError) as exc:
                error = refusal(exc)
            else:
                self.message_user(request, gettext("Closed the dispute of %(amount)s by %(client)s: its hold on the erasure is lifted.") % {
                    "amount": dollars(dispute.amount_cents), "client": dispute.client}, messages.SUCCESS)
                return HttpResponseRedirect(change_url(dispute))
        return page(self, request, title=gettext("Close %(dispute)s") % {"dispute": dispute}, question=gettext("Close the dispute? Say how it ended."),
                    rows=self._rows(dispute), submit=gettext("Yes, close it"), back=change_url(dispute), ask_reason=True,
                    reason_label=gettext("Outcome (kept in the audit log)"), error=error)

    @admin.action(description=_("Close the selected disputes (with their outcome)…"), permissions=["change"])
    def close(self, request, queryset):
        disputes = list(queryset.filter(closed_at__isnull=True).select_related("client"))
        outcome = reason_given(request) if confirmed(request) else None
        if not outcome:
            return page(self, request, title=gettext("Close disputes"), question=gettext("Close each of these with the outcome below? No money moves."),
                        rows=[f"{d.client}: {dollars(d.amount_cents)} {d.reference}" for d in disputes] or [gettext("None of the selected disputes is open.")],
                        submit=gettext("Yes, close them"), back=changelist_url(Dispute), ask_reason=True, admin_action=self.close.__name__, ids=[d.pk for d in disputes],
                        reason_label=gettext("Outcome (kept in the audit log)"))
        done = 0
        for dispute in disputes:
            services.close_dispute(dispute=dispute, actor=request.user, outcome=outcome)
            done += 1
        self.message_user(request, ngettext("Closed %(count)s dispute.", "Closed %(count)s disputes.", done) % {"count": done}, messages.SUCCESS)
        return None


@admin.register(FreeAccountFlag)
class FreeAccountFlagAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "client", "other", "matched_on", "resolved_at", "resolved_by"]
    list_filter = ["matched_on", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["client__email", "other__email"]
    list_select_related = ["client", "other", "resolved_by"]
    actions = ["resolve"]

    def has_resolve_permission(self, request) -> bool:
        return request.user.has_perm("billing.change_freeaccountflag")

    @admin.action(description=_("Mark as looked at…"), permissions=["resolve"])
    def resolve(self, request, queryset):
        flags = list(queryset.filter(resolved_at__isnull=True).select_related("client", "other"))
        if not confirmed(request):
            return page(self, request, title=gettext("Mark flags as looked at"),
                        question=gettext("Mark these look-alike Free accounts as looked at (TAR-6)? Nothing changes for the clients."),
                        rows=[str(f) for f in flags] or [gettext("None of the selected flags is open.")], submit=gettext("Yes, mark them"),
                        back=changelist_url(FreeAccountFlag), admin_action=self.resolve.__name__, ids=[f.pk for f in flags])
        done = FreeAccountFlag.objects.filter(pk__in=[f.pk for f in flags], resolved_at__isnull=True).update(resolved_at=timezone.now(), resolved_by=request.user)
        self.message_user(request, ngettext("Marked %(count)s flag as looked at.", "Marked %(count)s flags as looked at.", done) % {"count": done}, messages.SUCCESS)
        return None


# --- the night ------------------------------------------------------------------------------------


class NightlyStepInline(TabularInline):
    model = NightlyStep
    charged = money("charged_cents", _("charged"))
    credited = money("credited_cents", _("credited"))
    fields = ["name", "clients", "skipped", "charged", "credited", "took", "failure_list"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("seconds"))
    def took(self, step) -> str:
        return "—" if step.seconds is None else f"{step.seconds:.1f}"

    @admin.display(description=_("failures"))
    def failure_list(self, step) -> str:
        if not step.failures:
            return "—"
        return format_html_join(
            "", "<div>{}: {}</div>",
            ((client_link(f["client"]) if f.get("client") else gettext("chunk %(chunk)s") % {"chunk": f.get("chunk", "")}, f.get("error", ""))
             for f in step.failures))


KIND_LABELS = {
    "package_change": _("package change"), "renewal": _("renewal"), "free_limit_block": _("blocked: over the Free limit"),
    "free_limit_lift": _("Free limit block lifted"), "end_pro": _("PRO ends"), "collect": _("collect from the card"), "settle": _("debt settled"),
    "purge_projects": _("archived projects deleted"),
}


def dry_run_table(run: NightlyRun) -> dict:
    """A dry run's report as staff read it: per step, each client, what, how much, why; totals."""
    steps = [(name, items) for name, items in run.report.items() if name != "totals" and isinstance(items, list)]
    ids = {d["client_id"] for _, items in steps for d in items[:DRY_RUN_ROWS]}
    clients = Client.objects.only("pk", "email").in_bulk(ids)
    table = []
    for name, items in steps:
        rows = [{"client": client_link(d["client_id"], clients[d["client_id"]].email if d["client_id"] in clients else None),
                 "what": KIND_LABELS.get(d["kind"], d["kind"].replace("_", " ")),
                 "amount": dollars(d["amount_cents"]) if d["amount_cents"] else "—", "detail": d["detail"]} for d in items[:DRY_RUN_ROWS]]
        table.append({"name": name, "rows": rows, "count": len(items), "more": max(0, len(items) - DRY_RUN_ROWS)})
    return {"steps": table, "totals": night_totals(run.report.get("totals", {}))}


def night_totals(totals: dict) -> list[str]:
    """A dry run's totals in sentences."""
    if not totals:
        return []
    sentences = [gettext("Charged (renewals and packages added): %(amount)s") % {"amount": dollars(totals.get("charged_cents", 0))},
                 gettext("Credited (packages removed): %(amount)s") % {"amount": dollars(totals.get("credited_cents", 0))},
                 ngettext("Collected from the cards: up to %(amount)s from %(count)s client", "Collected from the cards: up to %(amount)s from %(count)s clients",
                          len(totals.get("collections", []))) % {"amount": dollars(totals.get("collect_cents", 0)), "count": len(totals.get("collections", []))}]
    counts = [(totals.get("free_limit_blocks", []), gettext("blocked for the Free limit")), (totals.get("free_limit_lifts", []), gettext("Free limit block lifted")),
              (totals.get("suspend_if_unpaid", []), gettext("suspended if the card fails")), (totals.get("block_if_unpaid", []), gettext("blocked if the card fails")),
              (totals.get("deactivate_if_unpaid", []), gettext("PRO ended if the card fails")), (totals.get("settled", []), gettext("debt settled"))]
    sentences += [gettext("%(what)s: %(count)s clients") % {"what": what, "count": len(ids)} for ids, what in counts if ids]
    return sentences


def night_money(steps) -> dict:
    """A real night's money from its steps: charged to the wallets (renewals, packages added),
    credited (packages removed), and collected from the cards by dunning (that charge paid again
    from the card, not a second charge)."""
    return {"charged": dollars(sum(s.charged_cents for s in steps if s.name != "dunning")),
            "credited": dollars(sum(s.credited_cents for s in steps)),
            "collected": dollars(sum(s.charged_cents for s in steps if s.name == "dunning")),
            "failures": sum(len(s.failures) for s in steps)}


@admin.register(NightlyRun)
class NightlyRunAdmin(ButtonsMixin, ReadOnlyAdmin):
    """Each night and each step: when, how long, how many clients, charges, credits, failures;
    tonight's dry run and tonight's run from the list (`billing.run_night`)."""

    list_display = ["__str__", "night", "at", "dry_run", "status", "charged", "credited", "collected", "failures", "started_at", "finished_at"]
    list_filter = ["status", "dry_run", "night"]
    search_fields = ["error"]
    search_help_text = _("Search the error of a night that stopped.")
    date_hierarchy = "night"
    fields = ["night", "at", "dry_run", "status", "started_at", "finished_at", "totals", "error"]
    readonly_fields = fields
    inlines = [NightlyStepInline]
    actions = ["rerun"]
    change_list_template = "admin/billing/nightlyrun/change_list.html"
    change_form_template = "admin/billing/nightlyrun/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("steps")

    @admin.display(description=_("failures"))
    def failures(self, run) -> int:
        return sum(len(step.failures) for step in run.steps.all())

    def _money(self, run, what: str) -> str:
        if run.dry_run:
            return dollars(run.report.get("totals", {}).get({"charged": "charged_cents", "credited": "credited_cents", "collected": "collect_cents"}[what], 0))
        return night_money(run.steps.all())[what]

    @admin.display(description=_("charged"))
    def charged(self, run) -> str:
        return self._money(run, "charged")

    @admin.display(description=_("credited"))
    def credited(self, run) -> str:
        return self._money(run, "credited")

    @admin.display(description=_("collected from cards"))
    def collected(self, run) -> str:
        return self._money(run, "collected")

    @admin.display(description=_("totals"))
    def totals(self, run) -> str:
        if run.dry_run:
            return format_html_join("", "<div>{}</div>", ((s,) for s in night_totals(run.report.get("totals", {})))) or "—"
        return gettext("charged %(charged)s, credited %(credited)s, collected from cards %(collected)s, %(failures)s failures") % night_money(run.steps.all())

    def has_run_night_permission(self, request) -> bool:
        return request.user.has_perm("billing.run_night")

    def has_rerun_permission(self, request) -> bool:
        return self.has_run_night_permission(request)

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "can_run_night": self.has_run_night_permission(request)})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        extra = {"dry_table": dry_run_table(run)} if run is not None and run.dry_run else {}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def get_urls(self):
        return [
            path("dry-run/", self.admin_site.admin_view(self.dry_run_view), name="billing_nightlyrun_dry_run"),
            path("run-tonight/", self.admin_site.admin_view(self.run_tonight_view), name="billing_nightlyrun_run_tonight"),
            *super().get_urls(),
        ]

    def dry_run_view(self, request):
        """WAL-7: what tonight would do, as of now, before anything is written."""
        deny_unless(request, "billing.run_night")
        try:
            run = night_module.run_nightly(dry_run=True)
        except Exception as exc:  # noqa: BLE001 (any failure is staff's to read, not a 500)
            self.message_user(request, gettext("The dry run stopped: %(error)s") % {"error": exc}, messages.ERROR)
            return HttpResponseRedirect(changelist_url(NightlyRun))
        context = {**self.admin_site.each_context(request), "opts": NightlyRun._meta, "run": run, "title": gettext("Dry run of the night of %(night)s") % {
            "night": run.night}, "table": dry_run_table(run), "run_tonight_url": reverse("admin:billing_nightlyrun_run_tonight")}
        return TemplateResponse(request, "admin/billing/nightlyrun/dry_run.html", context)

    def run_tonight_view(self, request):
        """Tonight's night, confirmed with what its dry run says it will charge and credit."""
        deny_unless(request, "billing.run_night")
        if confirmed(request):
            try:
                run = night_module.run_nightly()
            except Exception as exc:  # noqa: BLE001 (what is done stays done; the next run finishes the rest)
                self.message_user(request, gettext("The night stopped with an error: %(error)s. What was done stays done; run it again to finish.") % {
                    "error": exc}, messages.ERROR)
                failed = NightlyRun.objects.filter(dry_run=False, status=NightlyRun.Status.FAILED).order_by("-started_at", "-id").first()
                return HttpResponseRedirect(change_url(failed) if failed else changelist_url(NightlyRun))
            steps = list(run.steps.all())
            self.message_user(request, gettext("The night of %(night)s ran: charged %(charged)s, credited %(credited)s, collected from cards %(collected)s, "
                                               "%(failures)s failures.") % {"night": run.night, **night_money(steps)},
                              messages.ERROR if any(s.failures for s in steps) else messages.SUCCESS)
            return HttpResponseRedirect(change_url(run))
        try:
            dry = night_module.run_nightly(dry_run=True)
        except Exception as exc:  # noqa: BLE001
            self.message_user(request, gettext("The dry run stopped: %(error)s") % {"error": exc}, messages.ERROR)
            return HttpResponseRedirect(changelist_url(NightlyRun))
        return page(
            self, request, title=gettext("Run the night of %(night)s") % {"night": dry.night},
            question=gettext("Run tonight's billing now, for every client? As of now, its dry run says:"),
            rows=[*night_totals(dry.report.get("totals", {})),
                  gettext("Clients are emailed each renewal or package change charged and each failed collection (NTF-1)."),
                  gettext("A second run of the same night changes nothing: what is done stays done.")],
            submit=gettext("Yes, run tonight"), back=reverse("admin:billing_nightlyrun_dry_run"))

    @admin.action(description=_("Run the selected nights again (what is done stays done)…"), permissions=["rerun"])
    def rerun(self, request, queryset):
        runs = list(queryset.filter(dry_run=False))
        if not confirmed(request):
            return page(self, request, title=gettext("Run nights again"),
                        question=gettext("Run each of these nights again as of its time? Clients done stay done; only what was left is done, and charged."),
                        rows=[str(r) for r in runs] or [gettext("None of the selected runs is a real night.")], submit=gettext("Yes, run them again"),
                        back=changelist_url(NightlyRun), admin_action=self.rerun.__name__, ids=[r.pk for r in runs])
        done = 0
        for run in runs:
            try:
                night_module.run_nightly(at=run.at)
                done += 1
            except Exception as exc:  # noqa: BLE001
                self.message_user(request, gettext("%(run)s stopped again: %(error)s") % {"run": run, "error": exc}, messages.ERROR)
        if done:
            self.message_user(request, ngettext("Ran %(count)s night again.", "Ran %(count)s nights again.", done) % {"count": done}, messages.SUCCESS)
        return None

