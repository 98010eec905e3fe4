"""Payment attempts (CARD-3, PER-7): refunds confirmed with a reason (WAL-3), reconciliation; idempotency records and the sandbox's memory."""

from decimal import Decimal

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing import services
from billing.admin.common import AmountForm, ButtonsMixin, buttons, deny_unless, money, page
from billing.gateways import GatewayUnavailable
from billing.models import (
    IdempotencyRecord,
    PaymentAttempt,
    SandboxCharge,
)
from core.admin import ReadOnlyAdmin, change_url, changelist_url, confirmed, reason_given, refusal
from core.exceptions import RuleRefused
from core.money import dollars

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
