from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db.models import IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline

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
    PeriodChangeRequest,
    PolicySettings,
    SandboxCharge,
    Subscription,
    Wallet,
)
from billing.pdf import invoice_pdf
from core.admin import ReadOnlyAdmin, refusal, report
from core.exceptions import RuleRefused
from core.money import dollars


class MoneyActionForm(ActionForm):
    amount_cents = forms.IntegerField(required=False, min_value=1, label=_("Amount (cents)"))
    reason = forms.CharField(required=False, max_length=300, label=_("Reason"))


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


@admin.register(PolicySettings)
class PolicySettingsAdmin(ModelAdmin):
    """Prices and policy with their history: 'add' makes the new version, in force from now on for
    periods that start from now (TAR-4). Versions are never edited."""

    form = PolicyForm
    list_display = ["created_at", "package_monthly_cents", "quarterly_discount_percent", "yearly_discount_percent", "setup_fee_cents",
                    "prorate_on_cancel", "cancel_notice_business_days", "retention_days", "created_by", "note"]
    list_select_related = ["created_by"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_changeform_initial_data(self, request):
        policy = services.current_policy()
        return {name: getattr(policy, name) for name in services.POLICY_FIELDS}

    def save_model(self, request, obj, form, change):
        changes = {name: form.cleaned_data[name] for name in services.POLICY_FIELDS}
        saved = services.change_policy(actor=request.user, note=form.cleaned_data.get("note", ""), **changes)
        obj.pk, obj._state.adding = saved.pk, False


class LedgerInline(TabularInline):
    model = LedgerEntry
    fields = ["created_at", "amount_cents", "kind", "description", "reference", "actor"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-created_at", "-id"]
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = ["client", "balance"]
    search_fields = ["client__email"]
    list_select_related = ["client"]
    inlines = [LedgerInline]
    action_form = MoneyActionForm
    actions = ["credit_wallets"]

    def get_queryset(self, request):
        total = LedgerEntry.objects.filter(wallet=OuterRef("pk")).order_by().values("wallet").annotate(t=Sum("amount_cents")).values("t")
        return super().get_queryset(request).annotate(balance_cents=Coalesce(Subquery(total, output_field=IntegerField()), Value(0)))

    @admin.display(description=_("balance"), ordering="balance_cents")
    def balance(self, wallet) -> str:
        return dollars(wallet.balance_cents)

    def has_credit_permission(self, request) -> bool:
        return request.user.has_perm("billing.change_wallet")

    @admin.action(description=_("Credit the amount to the selected wallets (reason required)"), permissions=["credit"])
    def credit_wallets(self, request, queryset):
        amount, reason = request.POST.get("amount_cents", ""), request.POST.get("reason", "")
        done, refused = 0, []
        for wallet in queryset.select_related("client"):
            try:
                services.staff_credit(client=wallet.client, amount_cents=int(amount or 0), reason=reason, actor=request.user)
                done += 1
            except (RuleRefused, ValidationError, ValueError) as exc:
                refused.append(f"{wallet.client}: {refusal(exc)}")
        report(self, request, done, pgettext("admin action outcome", "Credited"), refused)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "wallet", "amount_cents", "kind", "description", "reference"]
    list_filter = ["kind"]
    search_fields = ["wallet__client__email", "=reference", "=idempotency_key"]
    list_select_related = ["wallet__client"]
    show_full_result_count = False


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = ["client", "status", "period", "packages", "period_start", "period_end", "package_price_cents", "ends_after"]
    list_filter = ["status", "period"]
    search_fields = ["client__email"]
    list_select_related = ["client"]


@admin.register(Card)
class CardAdmin(ReadOnlyAdmin):
    list_display = ["client", "role", "brand", "last4", "exp_month", "exp_year", "verified_at", "removed_at"]
    list_filter = ["role", "brand", ("removed_at", admin.EmptyFieldListFilter)]
    search_fields = ["client__email", "=last4", "=fingerprint"]
    list_select_related = ["client"]
    exclude = ["token"]


class InvoiceLineInline(TabularInline):
    model = InvoiceLine
    fields = ["description", "amount_cents"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = ["number", "kind", "client", "issued_at", "due_at", "total_cents", "status", "paid_at", "corrects", "pdf"]
    list_filter = ["kind", "status", "year"]
    search_fields = ["=number", "client__email", "=reference"]
    list_select_related = ["client", "corrects"]
    inlines = [InvoiceLineInline]

    def get_urls(self):
        return [path("<int:pk>/pdf/", self.admin_site.admin_view(self.pdf_view), name="billing_invoice_pdf"), *super().get_urls()]

    def pdf_view(self, request, pk: int):
        invoice = get_object_or_404(Invoice, pk=pk)
        return HttpResponse(invoice_pdf(invoice, operator=settings.SITE_NAME), content_type="application/pdf")

    @admin.display(description=_("PDF"))
    def pdf(self, invoice) -> str:
        return format_html('<a href="{}">PDF</a>', reverse("admin:billing_invoice_pdf", args=[invoice.pk]))


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "client", "kind", "amount_cents", "status", "failure_code", "purpose", "try_number", "leased_until"]
    list_filter = ["status", "kind", "gateway"]
    search_fields = ["client__email", "=idempotency_key", "=gateway_reference"]
    list_select_related = ["client"]
    action_form = MoneyActionForm
    actions = ["reconcile", "refund"]
    show_full_result_count = False

    def has_settle_permission(self, request) -> bool:
        return request.user.has_perm("billing.change_paymentattempt")

    @admin.action(description=_("Reconcile with the gateway: book what was taken, ask it about unanswered ones"), permissions=["settle"])
    def reconcile(self, request, queryset):
        done, refused = 0, []
        for attempt in queryset.filter(status__in=[*PaymentAttempt.UNSETTLED, PaymentAttempt.Status.SUCCEEDED]).exclude(kind=PaymentAttempt.Kind.REFUND):
            try:
                after = services.reconcile_attempt(attempt=attempt)
            except GatewayUnavailable:
                refused.append(gettext("%(attempt)s: the gateway did not answer; try again later.") % {"attempt": attempt})
                continue
            if after.status in PaymentAttempt.UNSETTLED:
                refused.append(gettext("%(attempt)s: still held by the request or night working on it.") % {"attempt": attempt})
            else:
                done += 1
        report(self, request, done, pgettext("admin action outcome", "Reconciled"), refused)

    @admin.action(description=_("Refund the amount to the card (reason required, WAL-3)"), permissions=["settle"])
    def refund(self, request, queryset):
        amount, reason = request.POST.get("amount_cents", ""), request.POST.get("reason", "")
        done, refused = 0, []
        for attempt in queryset.select_related("client", "card"):
            try:
                services.staff_refund(payment=attempt, amount_cents=int(amount or 0), reason=reason, actor=request.user)
                done += 1
            except (RuleRefused, ValidationError, ValueError) as exc:
                refused.append(f"{attempt}: {refusal(exc)}")
        report(self, request, done, pgettext("admin action outcome", "Refunded"), refused)


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

    list_display = ["created_at", "kind", "amount_cents", "status", "failure_code", "customer_ref", "idempotency_key"]
    list_filter = ["kind", "status"]
    search_fields = ["=idempotency_key", "=customer_ref", "=reference"]
    show_full_result_count = False


@admin.register(PeriodChangeRequest)
class PeriodChangeRequestAdmin(ModelAdmin):
    list_display = ["requested_at", "client", "from_period", "to_period", "status", "decided_by", "decided_at"]
    list_filter = ["status"]
    search_fields = ["client__email"]
    list_select_related = ["client", "decided_by"]
    readonly_fields = ["client", "from_period", "to_period", "status", "requested_at", "decided_at", "decided_by"]
    fields = [*readonly_fields, "staff_note"]
    actions = ["approve", "refuse"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def _decide(self, request, queryset, approve: bool):
        done, refused = 0, []
        for change in queryset.select_related("client"):
            try:
                if approve:
                    services.approve_period_change(request=change, actor=request.user, note=change.staff_note)
                else:
                    services.refuse_period_change(request=change, actor=request.user, note=change.staff_note)
                done += 1
            except (RuleRefused, ValidationError) as exc:
                refused.append(f"{change}: {refusal(exc)}")
        outcome = pgettext("admin action outcome", "Approved") if approve else pgettext("admin action outcome", "Refused")
        report(self, request, done, outcome, refused)

    @admin.action(description=_("Approve the shorter period (PER-5)"), permissions=["change"])
    def approve(self, request, queryset):
        self._decide(request, queryset, approve=True)

    @admin.action(description=_("Refuse the shorter period"), permissions=["change"])
    def refuse(self, request, queryset):
        self._decide(request, queryset, approve=False)


class DisputeAddForm(forms.ModelForm):
    class Meta:
        model = Dispute
        fields = ["client", "payment", "reference", "amount_cents", "note"]

    def clean(self):
        data = super().clean()
        for field, errors in services.dispute_errors(client=data.get("client"), payment=data.get("payment"), amount_cents=data.get("amount_cents")).items():
            self.add_error(field, errors)
        return data


class DisputeActionForm(ActionForm):
    outcome = forms.CharField(label=_("Outcome"), required=False, widget=forms.TextInput(attrs={"placeholder": _("how it ended")}))


@admin.register(Dispute)
class DisputeAdmin(ModelAdmin):
    """Disputed payments (CMP-2's hold): recorded by staff, closed with their outcome."""

    list_display = ["opened_at", "client", "amount", "reference", "closed_at", "outcome"]
    list_filter = [("closed_at", admin.EmptyFieldListFilter), "opened_at"]
    search_fields = ["client__email", "reference"]
    list_select_related = ["client"]
    raw_id_fields = ["client", "payment"]
    readonly_fields = ["client", "payment", "reference", "amount_cents", "note", "opened_at", "opened_by", "closed_at", "closed_by", "outcome"]
    action_form = DisputeActionForm
    actions = ["close"]

    @admin.display(description=_("amount"))
    def amount(self, dispute) -> str:
        return dollars(dispute.amount_cents)

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

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing is edited in place: a dispute is closed by the action, with its outcome
        opened = services.open_dispute(client=obj.client, payment=obj.payment, amount_cents=obj.amount_cents, reference=obj.reference,
                                       note=obj.note, actor=request.user)
        obj.pk, obj.opened_at, obj.opened_by = opened.pk, opened.opened_at, opened.opened_by

    @admin.action(description=_("Close the selected disputes (the outcome beside)"), permissions=["change"])
    def close(self, request, queryset):
        done, refused = 0, []
        for dispute in queryset.filter(closed_at__isnull=True):
            try:
                services.close_dispute(dispute=dispute, actor=request.user, outcome=request.POST.get("outcome", ""))
                done += 1
            except ValidationError as exc:
                refused.append(f"{dispute}: {refusal(exc)}")
        report(self, request, done, pgettext("admin action outcome", "Closed"), refused)


@admin.register(FreeAccountFlag)
class FreeAccountFlagAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "client", "other", "matched_on", "resolved_at", "resolved_by"]
    list_filter = ["matched_on", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["client__email", "other__email"]
    list_select_related = ["client", "other", "resolved_by"]
    actions = ["resolve"]

    def has_resolve_permission(self, request) -> bool:
        return request.user.has_perm("billing.change_freeaccountflag")

    @admin.action(description=_("Mark as looked at"), permissions=["resolve"])
    def resolve(self, request, queryset):
        done = queryset.filter(resolved_at__isnull=True).update(resolved_at=timezone.now(), resolved_by=request.user)
        report(self, request, done, pgettext("admin action outcome", "Marked as looked at"), [])


class NightlyStepInline(TabularInline):
    model = NightlyStep
    fields = ["name", "started_at", "seconds", "clients", "skipped", "charged_cents", "credited_cents", "failure_list"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("failures"))
    def failure_list(self, step) -> str:
        def where(failure) -> str:
            if failure.get("client"):
                return gettext("client %(client)s") % {"client": failure["client"]}
            return gettext("chunk %(chunk)s") % {"chunk": failure.get("chunk", "")}

        return "; ".join(f"{where(f)}: {f['error']}" for f in step.failures) or "—"


@admin.register(NightlyRun)
class NightlyRunAdmin(ReadOnlyAdmin):
    """Each night and each step: when, how long, how many clients, charges, credits, failures."""

    list_display = ["night", "at", "dry_run", "status", "started_at", "finished_at", "failures"]
    list_filter = ["status", "dry_run"]
    date_hierarchy = "night"
    inlines = [NightlyStepInline]
    actions = ["rerun"]

    @admin.display(description=_("failures"))
    def failures(self, run) -> int:
        return sum(len(step.failures) for step in run.steps.all())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("steps")

    def has_rerun_permission(self, request) -> bool:
        return request.user.is_superuser or request.user.has_perm("billing.change_paymentattempt")

    @admin.action(description=_("Run the selected nights again (what is done stays done)"), permissions=["rerun"])
    def rerun(self, request, queryset):
        done = 0
        for run in queryset.filter(dry_run=False):
            call_command("run_nightly", at=run.at.isoformat())
            done += 1
        report(self, request, done, pgettext("admin action outcome", "Run again"), [])
