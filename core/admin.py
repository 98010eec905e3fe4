from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.core.paginator import Paginator
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.functional import cached_property
from django.utils.http import urlencode
from django.utils.translation import gettext
from unfold.admin import ModelAdmin

from core.exceptions import RuleRefused


class ReadOnlyAdmin(ModelAdmin):
    """Staff read; nobody, superusers included, adds, changes or deletes here (append-only data)."""

    actions = None  # no bulk delete either

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def refusal(exc: Exception) -> str:
    """The sentence of a refusal for an admin message: a RuleRefused's detail, a ValidationError's
    messages, in the active language (`RuleRefused.sentence`)."""
    if isinstance(exc, RuleRefused):
        return exc.sentence()
    return " ".join(getattr(exc, "messages", [str(exc)]))


def report(modeladmin, request, done: int, verb: str, refused: list[str]) -> None:
    """An admin action's outcome: how many were done, and each refusal's sentence (`verb` is
    given translated, the sentences are already in the active language)."""
    if done:
        modeladmin.message_user(request, gettext("%(verb)s: %(count)s.") % {"verb": verb, "count": done}, messages.SUCCESS)
    for sentence in refused:
        modeladmin.message_user(request, sentence, messages.ERROR)


class CappedCountPaginator(Paginator):
    """For change lists of millions of rows: counts at most `cap` rows (a LIMITed subquery), so a
    page never waits for a full COUNT(*). Past the cap, the last page shown is the cap's."""

    cap = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by()[: self.cap].count()


# --- confirmation pages ---------------------------------------------------------------------------


class ReasonForm(forms.Form):
    """The reason a rule asks staff to give for an action (written to the audit log with it)."""

    reason = forms.CharField(label="Reason", max_length=500, widget=forms.Textarea(attrs={"rows": 3}))

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason or "\x00" in reason:
            raise forms.ValidationError("Give a reason (plain text).")
        return reason


def confirmed(request) -> bool:
    """Whether the action's POST comes from its confirmation page."""
    return request.POST.get("post") == "yes"


def reason_given(request) -> str | None:
    """The confirmed reason, or None when it is missing or unusable (the page is shown again)."""
    form = ReasonForm(request.POST)
    return form.cleaned_data["reason"] if form.is_valid() else None


def confirmation(modeladmin, request, *, admin_action: str, title: str, question: str, rows: list[str], ids: list, submit: str,
                 ask_reason: bool = False, extra: dict | None = None) -> TemplateResponse:
    """The page an action shows before it does anything: what each selected row will undergo (and
    to whom, at what cost: `rows`), a reason field when a rule wants one (`ask_reason`; posted
    back empty, the page comes again with its error), and one button that posts the same
    selection back, confirmed. `extra`: more context for a template that extends this one."""
    reason_form = ReasonForm(request.POST if confirmed(request) else None) if ask_reason else None
    if reason_form is not None and confirmed(request):
        reason_form.is_valid()
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.model._meta, "title": title, "question": question, "rows": rows, "ids": ids, "admin_action": admin_action,
        "submit": submit, "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME, "reason_form": reason_form, **(extra or {}),
    }
    return TemplateResponse(request, "admin/confirm_action.html", context)


def ask_first(modeladmin, request, objects: list, *, action: str, title: str, question: str, rows: list[str], submit: str,
              ask_reason: bool = False):
    """(the confirmation page, None) until the POST is confirmed (with its reason, when one is
    asked); then (None, the reason or "")."""
    if confirmed(request):
        reason = reason_given(request) if ask_reason else ""
        if reason is not None:
            return None, reason
    return confirmation(modeladmin, request, admin_action=action, title=title, question=question, rows=rows,
                        ids=[obj.pk for obj in objects], submit=submit, ask_reason=ask_reason), None


# --- links between admin pages ------------------------------------------------------------------


def change_url(obj) -> str:
    """The object's own admin page, or "" when its model has none."""
    try:
        return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return ""


def changelist_url(model, **filters) -> str:
    """The model's admin change list, filtered (`client__id__exact=7`), or "" when it has none."""
    try:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    except NoReverseMatch:
        return ""
    return f"{url}?{urlencode(filters)}" if filters else url
