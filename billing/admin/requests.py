"""Period change requests (PER-5), disputes (CMP-2) and free-account flags, each decision confirmed."""


from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from billing import services
from billing.admin.common import ButtonsMixin, DollarsField, NoteForm, buttons, deny_unless, money, page
from billing.models import (
    Dispute,
    FreeAccountFlag,
    PeriodChangeRequest,
    Subscription,
)
from core.admin import ReadOnlyAdmin, change_url, changelist_url, confirmed, reason_given, refusal
from core.clock import billing_date
from core.exceptions import RuleRefused
from core.money import dollars, prorate_formula

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
    amount_cents = DollarsField(label=_("Amount disputed"), min_cents=1)

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
