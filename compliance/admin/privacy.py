"""Privacy requests (CMP-2): due dates, extending, fulfilling or refusing, each confirmed."""


from dateutil.relativedelta import relativedelta
from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from compliance.admin.common import days_left, each, listed, prefill
from compliance.admin.complaints import DeadlineFilter
from compliance.models import (
    PrivacyRequest,
)
from compliance.services import (
    EXPORT_LINK_DAYS,
    decide_privacy_request,
    extend_privacy_request,
    privacy_request_errors,
    receive_privacy_request,
)
from core.admin import ask_first


class PrivacyRequestAddForm(forms.ModelForm):
    """Staff file a request for a person who is no client: the service's own checks, on the form."""

    class Meta:
        model = PrivacyRequest
        fields = ["kind", "subject_email", "subject_phone", "details"]

    def clean(self):
        data = super().clean()
        for field, errors in privacy_request_errors(kind=data.get("kind", ""), subject_email=data.get("subject_email", ""),
                                                    subject_phone=data.get("subject_phone", "")).items():
            self.add_error(field, errors)
        return data


def subject_of(request) -> str:
    """Whom a privacy request is about: the client, or the person named by email or phone."""
    if request.client_id:
        return f"{request.client.name} <{request.client.email}>" if request.client.name else request.client.email
    return request.subject_email or request.subject_phone or gettext("a person no longer identifiable")


def fulfilment_of(request) -> str:
    """What fulfilling the request does, to whom (CMP-2, DEA-5)."""
    K, who = PrivacyRequest.Kind, subject_of(request)
    names = {"request": request, "who": who, "days": EXPORT_LINK_DAYS}
    if request.status != PrivacyRequest.Status.OPEN:
        return already_decided(request)
    if request.kind in (K.ACCESS, K.PORTABILITY) and request.client_id:
        return gettext("%(request)s of %(who)s: a JSON document of everything every app holds on them is made, and a link to it, "
                       "working for %(days)s days, is emailed to them.") % names
    if request.kind == K.ERASURE and request.client_id:
        return gettext("%(request)s of %(who)s: any debt is charged to their card first, then their personal data is anonymised in every app "
                       "and in the audit log; invoices and ledger amounts stay for tax, and an open debt or dispute keeps the request open.") % names
    if request.kind == K.ERASURE:
        return gettext("%(request)s of %(who)s: every subscriber and contact found by that email or phone, in every project, is anonymised "
                       "and unsubscribed; the request keeps no way to find the person again.") % names
    return gettext("%(request)s of %(who)s: marked fulfilled, with the staff note as the answer; make the change itself first.") % names


def already_decided(request) -> str:
    return gettext("%(request)s of %(who)s is %(status)s already: nothing changes.") % {
        "request": request, "who": subject_of(request), "status": request.get_status_display()}


OPEN = PrivacyRequest.Status.OPEN


@admin.register(PrivacyRequest)
class PrivacyRequestAdmin(ModelAdmin):
    """Data subject requests with their deadlines (CMP-2), soonest first: extend with a reason,
    fulfil, refuse with a reason (fulfilling and refusing need `compliance.fulfil_privacy_request`)."""

    list_display = ["__str__", "kind", "client", "subject_email", "subject_phone", "status", "received_at", "due_at", "due_in", "extension_reason"]
    list_filter = [DeadlineFilter, "status", "kind", "due_at", "received_at"]
    search_fields = ["client__email", "subject_email", "=subject_phone", "details", "staff_note", "=id"]
    search_help_text = _("A client's or the person's email, an international phone, words of the details or the note, or a request's id.")
    list_select_related = ["client"]
    ordering = ["due_at", "id"]
    readonly_fields = ["client", "subject_email", "subject_phone", "kind", "details", "status", "received_at", "due_at", "extension_reason",
                       "decided_at", "decided_by"]
    fields = [*readonly_fields, "staff_note"]
    add_fields = ["kind", "subject_email", "subject_phone", "details"]
    actions = ["extend_one_month", "extend_two_months", "fulfil", "refuse"]

    def has_add_permission(self, request) -> bool:
        # Staff file a request for a person who is no client (a subscriber): by its email or phone.
        return request.user.has_perm("compliance.change_privacyrequest")

    def has_fulfil_permission(self, request) -> bool:
        return request.user.has_perm("compliance.fulfil_privacy_request")

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = PrivacyRequestAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)  # the staff note only
            return
        filed = receive_privacy_request(kind=obj.kind, subject_email=obj.subject_email, subject_phone=obj.subject_phone,
                                        details=obj.details, actor=request.user)
        obj.pk, obj.due_at, obj.received_at = filed.pk, filed.due_at, filed.received_at

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("answer due"), ordering="due_at")
    def due_in(self, privacy_request) -> str:
        if privacy_request.status != OPEN:
            return privacy_request.get_status_display()
        return days_left(privacy_request.due_at, timezone.localdate())

    def _extend(self, request, queryset, months: int, action: str):
        requests = list(queryset)

        def row(r) -> str:
            if r.status != OPEN:
                return already_decided(r)
            return gettext("%(request)s of %(who)s: due %(due)s instead of %(was)s.") % {
                "request": r, "who": subject_of(r), "due": r.due_at + relativedelta(months=months), "was": r.due_at}

        page, reason = ask_first(
            self, request, requests, action=action, ask_reason=True,
            title=ngettext("Extend by %(n)s month", "Extend by %(n)s months", months) % {"n": months},
            question=gettext("A request may take up to two more months, three months after receipt in all, with a reason (CMP-2, GDPR Art. 12(3)). "
                             "Tell the person why; the reason is kept on the request and in the audit log."),
            rows=[row(r) for r in requests], submit=gettext("Yes, extend them"),
        )
        if page is not None:
            return page
        each(self, request, [r for r in requests if r.status == OPEN],
             lambda r: extend_privacy_request(request=r, months=months, reason=reason, actor=request.user),
             lambda done: ngettext("Extended %(count)s request by %(months)s month(s): %(rows)s.", "Extended %(count)s requests by %(months)s month(s): %(rows)s.",
                                   len(done)) % {"count": len(done), "months": months, "rows": listed(done)})
        return None

    @admin.action(description=_("Extend the deadline by one month, with a reason"), permissions=["change"])
    def extend_one_month(self, request, queryset):
        return self._extend(request, queryset, 1, self.extend_one_month.__name__)

    @admin.action(description=_("Extend the deadline by two months, with a reason"), permissions=["change"])
    def extend_two_months(self, request, queryset):
        return self._extend(request, queryset, 2, self.extend_two_months.__name__)

    @admin.action(description=_("Fulfil (export, erase or mark done, by kind)"), permissions=["fulfil"])
    def fulfil(self, request, queryset):
        requests = list(queryset)
        page, _reason = ask_first(
            self, request, requests, action=self.fulfil.__name__, title=gettext("Fulfil privacy requests"),
            question=gettext("Each request is fulfilled as its kind says (CMP-2), and the decision is kept in the audit log. This cannot be undone. "
                             "Fulfil them?"),
            rows=[fulfilment_of(r) for r in requests], submit=gettext("Yes, fulfil them"),
        )
        if page is not None:
            return page
        each(self, request, [r for r in requests if r.status == OPEN],
             lambda r: self._fulfilled(decide_privacy_request(request=r, fulfilled=True, note=r.staff_note, actor=request.user)),
             lambda done: ngettext("Fulfilled %(count)s request: %(rows)s.", "Fulfilled %(count)s requests: %(rows)s.", len(done))
             % {"count": len(done), "rows": listed(done)})
        return None

    @staticmethod
    def _fulfilled(decided) -> None:
        """A request the service left open is no success: say so instead of counting it done."""
        if decided.status != PrivacyRequest.Status.FULFILLED:
            raise ValidationError(gettext("still open, nothing was done."))

    @admin.action(description=_("Refuse, with the reason the person is told"), permissions=["fulfil"])
    def refuse(self, request, queryset):
        requests = list(queryset)

        def row(r) -> str:
            if r.status != OPEN:
                return already_decided(r)
            return gettext("%(request)s of %(who)s: refused; nothing of their data is exported, erased or changed.") % {
                "request": r, "who": subject_of(r)}

        page, reason = ask_first(
            self, request, requests, action=self.refuse.__name__, ask_reason=True, title=gettext("Refuse privacy requests"),
            question=gettext("A refusal gives the person its reason (CMP-2): it becomes the request's staff note and is kept in the audit log."),
            rows=[row(r) for r in requests], submit=gettext("Yes, refuse them"),
        )
        if page is not None:
            return prefill(request, page, requests, "staff_note")
        each(self, request, [r for r in requests if r.status == OPEN],
             lambda r: decide_privacy_request(request=r, fulfilled=False, note=reason, actor=request.user),
             lambda done: ngettext("Refused %(count)s request, with your reason: %(rows)s.", "Refused %(count)s requests, with your reason: %(rows)s.",
                                   len(done)) % {"count": len(done), "rows": listed(done)})
        return None
