"""Prices and policy (TAR-4): each change a new version, its effect said before it is saved."""


from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from billing import services
from billing.admin.common import DollarsField, money
from billing.models import (
    Period,
    PolicySettings,
    Subscription,
)
from core.admin import refusal
from core.exceptions import RuleRefused
from core.money import dollars

# --- prices and policy ----------------------------------------------------------------------------


class PolicyForm(forms.ModelForm):
    # Prices typed in dollars; the versions keep cents.
    package_monthly_cents = DollarsField(label=_("Package a month"), help_text=_("in dollars, at least 10.00 (TAR-4)"))
    setup_fee_cents = DollarsField(label=_("Set-up fee"))
    late_fee_cents = DollarsField(label=_("Late fee"))

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
            gettext("Amounts are typed in dollars (12.50); a package may not cost less than $10.00 a month (TAR-4)."),
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
