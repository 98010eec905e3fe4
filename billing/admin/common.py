"""Billing's admin helpers: amounts in dollars, links, the confirmation page and per-object buttons."""

from decimal import Decimal

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin import confirmation
from core.money import dollars

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


class DollarsField(forms.DecimalField):
    """A cents field of a model form, typed and shown in dollars (12.50 for 1250 cents): staff
    never count zeros. Its cleaned value is integer cents, what the model and services keep."""

    def __init__(self, *, min_cents: int = 0, max_cents: int = 100_000_000, **kwargs):
        kwargs.setdefault("help_text", _("in dollars, e.g. 12.50"))
        super().__init__(min_value=Decimal(min_cents) / 100, max_value=Decimal(max_cents) / 100, max_digits=12, decimal_places=2, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{Decimal(value) / 100:.2f}"  # the initial value, in cents
        return value

    def clean(self, value):
        amount = super().clean(value)
        return None if amount is None else int(amount * 100)

    def has_changed(self, initial, data) -> bool:
        try:
            return self.clean(data) != initial
        except ValidationError:
            return True


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
