"""Wallets, the ledger, subscriptions, cards and invoices, in dollars; a staff credit (WAL-3) confirmed with its reason."""


from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline

from billing import services
from billing.admin.common import AmountForm, ButtonsMixin, buttons, deny_unless, money, page
from billing.models import (
    Card,
    Invoice,
    InvoiceLine,
    LedgerEntry,
    Subscription,
    Wallet,
)
from billing.pdf import invoice_pdf
from core.admin import ReadOnlyAdmin, change_url, changelist_url, confirmed, reason_given, refusal
from core.exceptions import RuleRefused
from core.money import dollars

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
