"""How every compliance action runs in the staff console: confirmed first, a reason where a rule asks one."""

import datetime

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.translation import gettext, ngettext

from core.admin import ReasonForm, confirmation, confirmed, refusal
from core.exceptions import RuleRefused

# --- how every action here runs (issue 16) ---------------------------------------------------------
# A confirmation page first (`core.admin.confirmation`): what will happen to whom, a reason where a
# rule wants one; then the service, row by row, and one sentence for what was done (each refusal
# in its own). The admin translates and calls; the services decide and write the audit log.




def prefill(request, page, objects: list, field: str):
    """The reason box comes filled with the text saved on the row (a complaint's answer, a
    request's staff note) when every selected row has the same one: staff wrote it already."""
    saved = {getattr(obj, field).strip() for obj in objects}
    if page is not None and not confirmed(request) and len(saved) == 1 and (text := saved.pop()):
        page.context_data["reason_form"] = ReasonForm({"reason": text})
    return page


def each(modeladmin, request, objects: list, call, sentence) -> None:
    """`call(obj)` for each object; `sentence(titles)`, one sentence, for those done; a refusal's
    sentence for each refused (nothing of it changed)."""
    done, refused = [], []
    for obj in objects:
        title = str(obj)  # before the call: an erasure takes away what named the person
        try:
            call(obj)
        except (ValidationError, RuleRefused) as exc:
            refused.append(f"{title}: {refusal(exc)}")
            continue
        done.append(title)
    if done:
        modeladmin.message_user(request, sentence(done), messages.SUCCESS)
    for line in refused:
        modeladmin.message_user(request, line, messages.ERROR)


def listed(titles: list[str]) -> str:
    return "; ".join(titles)


def days_left(due: datetime.date, today: datetime.date) -> str:
    left = (due - today).days
    if left < 0:
        return ngettext("overdue by %(n)s day", "overdue by %(n)s days", -left) % {"n": -left}
    if left == 0:
        return gettext("due today")
    return ngettext("%(n)s day left", "%(n)s days left", left) % {"n": left}


class ConfirmedFormMixin:
    """An add or change form that writes something others feel (a legal text published to every
    client, a holiday moving complaint deadlines) shows what it will do first; the confirmed POST
    carries the same values back and saves them."""

    confirm_template = "admin/compliance/confirm_form.html"

    def form_confirmation(self, request, form, obj) -> dict:
        """title, question, rows and submit of the page, for the valid `form`."""
        raise NotImplementedError

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and not confirmed(request) and "_popup" not in request.POST:
            obj = self.get_object(request, unquote(object_id)) if object_id else None
            allowed = self.has_change_permission(request, obj) if object_id else self.has_add_permission(request)
            if (obj is not None or object_id is None) and allowed:
                form = self.get_form(request, obj, change=obj is not None)(request.POST, request.FILES, instance=obj)
                if form.is_valid():
                    page = self.form_confirmation(request, form, obj)
                    response = confirmation(self, request, admin_action=None, ids=[], **page)
                    response.template_name = self.confirm_template
                    response.context_data.update(
                        form_values=[(name, value) for name in form.fields for value in request.POST.getlist(name)],
                        back_url=reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"),
                    )
                    return response
        return super().changeform_view(request, object_id, form_url, extra_context)
