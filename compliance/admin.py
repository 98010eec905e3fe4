import datetime

from dateutil.relativedelta import relativedelta
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from compliance.models import (
    AuditLog,
    AuditSeal,
    Complaint,
    CookieConsent,
    Holiday,
    Incident,
    LegalAcceptance,
    LegalDocument,
    MarketingConsent,
    PrivacyRequest,
)
from compliance.services import (
    COMPLAINT_WORKING_DAYS,
    EXPORT_LINK_DAYS,
    INCIDENT_NOTICE_HOURS,
    decide_complaint,
    decide_privacy_request,
    extend_privacy_request,
    incident_errors,
    incident_state,
    note_incident_saved,
    notify_incident,
    privacy_request_errors,
    publish_document,
    receive_privacy_request,
    suspend_sending_for_complaint,
)
from core.admin import ReadOnlyAdmin, ReasonForm, confirmation, confirmed, reason_given, refusal
from core.exceptions import RuleRefused

# --- how every action here runs (issue 16) ---------------------------------------------------------
# A confirmation page first (`core.admin.confirmation`): what will happen to whom, a reason where a
# rule wants one; then the service, row by row, and one sentence for what was done (each refusal
# in its own). The admin translates and calls; the services decide and write the audit log.


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


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_label", "action", "target_label", "client", "ip"]
    list_filter = ["action", "created_at"]
    search_fields = ["actor_label", "client__email", "action", "target_label", "=target_id"]
    list_select_related = ["client"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = [f.name for f in AuditLog._meta.fields]


@admin.register(LegalDocument)
class LegalDocumentAdmin(ConfirmedFormMixin, ModelAdmin):
    """Staff publish a version here (CMP-1) after a page that says who is told; a published text is
    never edited: publish a new one. Publishing emails every client in background batches."""

    list_display = ["__str__", "kind", "version", "title", "published_at", "acceptances", "notices"]
    list_filter = ["kind", "published_at"]
    search_fields = ["title", "version", "body"]
    fields = ["kind", "version", "title", "body"]

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            acceptance_count=Count("acceptances", distinct=True), notice_count=Count("notices", distinct=True)
        )

    @admin.display(description=_("accepted by"), ordering="acceptance_count")
    def acceptances(self, document) -> int:
        return document.acceptance_count

    @admin.display(description=_("emailed to"), ordering="notice_count")
    def notices(self, document) -> int:
        return document.notice_count

    def form_confirmation(self, request, form, obj) -> dict:
        data = form.cleaned_data
        kind = LegalDocument.Kind(data["kind"]).label
        clients = get_user_model().objects.filter(is_active=True, is_staff=False).count()  # whom notify_document_batch tells
        return {
            "title": gettext("Publish %(kind)s %(version)s") % {"kind": kind, "version": data["version"]},
            "question": gettext("A published text is never edited: a correction is another version. Publish it?"),
            "rows": [
                gettext("“%(title)s” (%(kind)s, version %(version)s) is in force at once for every client and every new sign-up.")
                % {"title": data["title"], "kind": kind, "version": data["version"]},
                ngettext("%(count)s client is emailed about it, in background batches, and sees a notice on the dashboard until it accepts (CMP-1).",
                         "%(count)s clients are emailed about it, in background batches, and see a notice on the dashboard until they accept (CMP-1).",
                         clients) % {"count": clients},
            ],
            "submit": gettext("Yes, publish it and tell every client"),
        }

    def save_model(self, request, obj, form, change):
        published = publish_document(actor=request.user, **{name: form.cleaned_data[name] for name in self.fields})
        obj.pk, obj._state.adding = published.pk, False

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(request, gettext("Published %(document)s: in force now, and every client is being emailed about it.") % {"document": obj},
                          messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:compliance_legaldocument_changelist"))


@admin.register(LegalAcceptance)
class LegalAcceptanceAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "client", "document", "accepted_at", "ip"]
    list_filter = ["document__kind", "accepted_at"]
    search_fields = ["client__email", "document__version", "=ip"]
    list_select_related = ["client", "document"]
    raw_id_fields = ["client"]


@admin.register(AuditSeal)
class AuditSealAdmin(ReadOnlyAdmin):
    """The daily seals of the audit log; `manage.py verify_audit_log` checks them."""

    list_display = ["__str__", "day", "version", "entries", "digest", "reason", "sealed_at"]
    list_filter = ["version", "sealed_at"]
    search_fields = ["digest", "reason"]
    date_hierarchy = "day"


@admin.register(Holiday)
class HolidayAdmin(ConfirmedFormMixin, ModelAdmin):
    """Public holidays, skipped by complaint deadlines (CMP-4); seeded from the `holidays` library.
    Adding or moving one shows first what it changes (deletion has Django's own page)."""

    list_display = ["__str__", "date", "name"]
    list_filter = ["date"]
    date_hierarchy = "date"
    search_fields = ["name"]

    def form_confirmation(self, request, form, obj) -> dict:
        data = form.cleaned_data
        what = {"date": data["date"], "name": data["name"]}
        if obj is None:
            title, row = gettext("Add a holiday"), gettext("%(date)s (%(name)s) becomes a holiday: not a working day.") % what
        else:
            title = gettext("Change a holiday")
            row = gettext("%(holiday)s becomes %(date)s (%(name)s).") % {"holiday": Holiday.objects.get(pk=obj.pk), **what}
        return {
            "title": title,
            "question": gettext("Complaints received from now on skip the holidays in their %(days)s working days (CMP-4); the deadlines "
                                "of complaints already received do not move. Save it?") % {"days": COMPLAINT_WORKING_DAYS},
            "rows": [row], "submit": gettext("Yes, save it"),
        }


class DeadlineFilter(admin.SimpleListFilter):
    title = _("deadline")
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return [("overdue", _("Overdue")), ("soon", _("Due within 5 days"))]

    def queryset(self, request, queryset):
        today = timezone.now().date()
        if self.value() == "overdue":
            return queryset.filter(status=Complaint.Status.OPEN, due_at__lt=today)
        if self.value() == "soon":
            return queryset.filter(status=Complaint.Status.OPEN, due_at__gte=today, due_at__lte=today + datetime.timedelta(days=5))
        return queryset


def complainant_of(complaint) -> str:
    """Who complains: the account, or how the complainant identified itself."""
    if complaint.complainant_id:
        return complaint.complainant.email
    return " ".join(complaint.identification.split())[:80]


@admin.register(Complaint)
class ComplaintAdmin(ModelAdmin):
    """Complaints with their deadlines (CMP-4), soonest first: uphold or reject with the answer to
    the complainant, or suspend the sending of the project a stranger's spam complaint names."""

    list_display = ["__str__", "kind", "status", "complainant", "project_id", "matched", "received_at", "due_at", "due_in", "answered_at"]
    list_filter = [DeadlineFilter, "status", "kind", "matched", "due_at", "received_at"]
    search_fields = ["identification", "description", "answer", "complainant__email", "=project_id", "=id"]
    search_help_text = _("Words of the complainant's identification, the complaint or the answer, an email, or a project's or complaint's id.")
    list_select_related = ["complainant"]
    ordering = ["due_at", "id"]
    readonly_fields = ["complainant", "kind", "identification", "description", "period_start", "period_end", "project_id", "matched", "status",
                       "received_at", "due_at", "answered_at", "answered_by"]
    fields = [*readonly_fields, "answer"]
    actions = ["uphold", "reject", "suspend_sending"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("answer due"), ordering="due_at")
    def due_in(self, complaint) -> str:
        if complaint.status != Complaint.Status.OPEN:
            return complaint.get_status_display()
        return days_left(complaint.due_at, timezone.localdate())

    def _row(self, complaint, upheld: bool) -> str:
        names = {"complaint": complaint, "who": complainant_of(complaint), "project": complaint.project_id}
        if complaint.status != Complaint.Status.OPEN:
            return gettext("%(complaint)s from %(who)s is %(status)s already: nothing changes.") % {**names, "status": complaint.get_status_display()}
        if complaint.kind == Complaint.Kind.SPAM and complaint.project_id:
            then = (gettext("the suspension of project %(project)s it caused stays until staff lift it.") if upheld else
                    gettext("the suspension of project %(project)s it caused is lifted (any other reason stays)."))
            return gettext("%(complaint)s from %(who)s: closed with your answer; ") % names + then % names
        return gettext("%(complaint)s from %(who)s: closed with your answer.") % names

    def _decide(self, request, queryset, upheld: bool):
        complaints = list(queryset)
        page, answer = ask_first(
            self, request, complaints, action=(self.uphold if upheld else self.reject).__name__, ask_reason=True,
            title=gettext("Uphold complaints") if upheld else gettext("Reject complaints"),
            question=gettext("Each complaint is answered with the text below, as the reason kept in the audit log, and closed (CMP-4). "
                             "Write what the complainant is told."),
            rows=[self._row(c, upheld) for c in complaints], submit=gettext("Yes, uphold them") if upheld else gettext("Yes, reject them"),
        )
        if page is not None:
            return prefill(request, page, complaints, "answer")
        each(self, request, [c for c in complaints if c.status == Complaint.Status.OPEN],
             lambda c: decide_complaint(complaint=c, upheld=upheld, answer=answer, actor=request.user),
             lambda done: (ngettext("Upheld %(count)s complaint with your answer: %(rows)s.", "Upheld %(count)s complaints with your answer: %(rows)s.", len(done))
                           if upheld else
                           ngettext("Rejected %(count)s complaint with your answer: %(rows)s.", "Rejected %(count)s complaints with your answer: %(rows)s.", len(done)))
             % {"count": len(done), "rows": listed(done)})
        return None

    @admin.action(description=_("Uphold, with the answer to the complainant"), permissions=["change"])
    def uphold(self, request, queryset):
        return self._decide(request, queryset, upheld=True)

    @admin.action(description=_("Reject, with the answer to the complainant"), permissions=["change"])
    def reject(self, request, queryset):
        return self._decide(request, queryset, upheld=False)

    @admin.action(description=_("Suspend the project's sending (a spam complaint from a stranger)"), permissions=["change"])
    def suspend_sending(self, request, queryset):
        complaints = list(queryset)

        def row(c) -> str:
            names = {"complaint": c, "who": complainant_of(c), "project": c.project_id}
            if c.kind != Complaint.Kind.SPAM or c.status != Complaint.Status.OPEN or not c.project_id:
                return gettext("%(complaint)s from %(who)s is no open spam complaint about a project: nothing changes.") % names
            return gettext("Project %(project)s, named by %(complaint)s from %(who)s, stops running funnels and sending until the complaint "
                           "is decided; its owner keeps every other right.") % names

        page, _reason = ask_first(
            self, request, complaints, action=self.suspend_sending.__name__, title=gettext("Suspend the sending of the projects complained about"),
            question=gettext("A spam complaint from someone who is no subscriber or contact of the project waits for staff (CMP-4). "
                             "Suspend these projects' sending now?"),
            rows=[row(c) for c in complaints], submit=gettext("Yes, suspend their sending"),
        )
        if page is not None:
            return page
        each(self, request, complaints, lambda c: suspend_sending_for_complaint(complaint=c, actor=request.user),
             lambda done: ngettext("Suspended the sending of the project named by %(count)s complaint: %(rows)s.",
                                   "Suspended the sending of the projects named by %(count)s complaints: %(rows)s.", len(done))
             % {"count": len(done), "rows": listed(done)})
        return None


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


class IncidentForm(forms.ModelForm):
    class Meta:
        model = Incident
        fields = ["discovered_at", "description", "affected"]

    def clean(self):
        data = super().clean()
        for field, errors in incident_errors(discovered_at=data.get("discovered_at")).items():
            self.add_error(field, errors)
        return data


class IncidentDeadlineFilter(admin.SimpleListFilter):
    title = _("72-hour notice")
    parameter_name = "notice"

    def lookups(self, request, model_admin):
        return [("past", _("Past the deadline, not notified")), ("near", _("Within 24 hours of it, not notified"))]

    def queryset(self, request, queryset):
        now = timezone.now()
        open_ones = queryset.filter(notified_at__isnull=True)
        if self.value() == "past":
            return open_ones.filter(discovered_at__lt=now - datetime.timedelta(hours=72))
        if self.value() == "near":
            return open_ones.filter(discovered_at__gte=now - datetime.timedelta(hours=72), discovered_at__lt=now - datetime.timedelta(hours=48))
        return queryset


@admin.register(Incident)
class IncidentAdmin(ModelAdmin):
    """Security incidents (CMP-6): affected clients told within 72 hours of the discovery; the
    list shows the hours left, the nearest deadline first once sorted by them."""

    list_display = ["__str__", "discovered_at", "notify_by", "hours_left", "notified_at", "affected_count"]
    list_filter = [IncidentDeadlineFilter, ("notified_at", admin.EmptyFieldListFilter), "discovered_at"]
    search_fields = ["description", "=affected__email", "=id"]
    search_help_text = _("Words of the description, an affected client's exact email, or an incident's id.")
    filter_horizontal = ["affected"]
    readonly_fields = ["notified_at", "notified_by", "created_at"]
    actions = ["notify"]
    form = IncidentForm

    def save_model(self, request, obj, form, change):
        request.incident_before = incident_state(Incident.objects.filter(pk=obj.pk).first()) if change else {}
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        note_incident_saved(incident=form.instance, before=request.incident_before, actor=request.user)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(affected_total=Count("affected"))

    @admin.display(description=_("affected clients"), ordering="affected_total")
    def affected_count(self, incident) -> int:
        return incident.affected_total

    @admin.display(description=_("hours left of the 72"), ordering="discovered_at")
    def hours_left(self, incident) -> str:
        if incident.notified_at is not None:
            return gettext("notified")
        left = int((incident.notify_by - timezone.now()).total_seconds() // 3600)
        if left < 0:
            return ngettext("%(n)s hour past", "%(n)s hours past", -left) % {"n": -left}
        return ngettext("%(n)s hour left", "%(n)s hours left", left) % {"n": left}

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=_("Email the affected clients now (closes the 72-hour notice)"), permissions=["change"])
    def notify(self, request, queryset):
        incidents = list(queryset.prefetch_related("affected"))

        def row(incident) -> str:
            names = {"incident": incident, "hours": INCIDENT_NOTICE_HOURS, "by": incident.notify_by}
            if incident.notified_at is not None:
                return gettext("%(incident)s: its clients were told on %(at)s; nobody is emailed again.") % {**names, "at": incident.notified_at}
            emails = [client.email for client in incident.affected.all()]
            if not emails:
                return gettext("%(incident)s: no affected client is recorded, so nobody is emailed; it is marked notified.") % names
            return ngettext("%(incident)s: %(count)s affected client is emailed the description (%(emails)s); due within %(hours)s hours, by %(by)s.",
                            "%(incident)s: %(count)s affected clients are emailed the description (%(emails)s); due within %(hours)s hours, by %(by)s.",
                            len(emails)) % {**names, "count": len(emails), "emails": ", ".join(emails[:10]) + (" …" if len(emails) > 10 else "")}

        page, _reason = ask_first(
            self, request, incidents, action=self.notify.__name__, title=gettext("Email the affected clients"),
            question=gettext("Each affected client is emailed about the incident once, and the incident is marked notified (CMP-6). Send it now?"),
            rows=[row(i) for i in incidents], submit=gettext("Yes, email them"),
        )
        if page is not None:
            return page
        told = {}
        each(self, request, [i for i in incidents if i.notified_at is None],
             lambda i: told.__setitem__(i.pk, notify_incident(incident=i, actor=request.user)),
             lambda done: ngettext("Emailed %(clients)s affected client(s) of %(count)s incident: %(rows)s.",
                                   "Emailed %(clients)s affected client(s) of %(count)s incidents: %(rows)s.", len(done))
             % {"clients": sum(told.values()), "count": len(done), "rows": listed(done)})
        return None


@admin.register(MarketingConsent)
class MarketingConsentAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "client", "given", "at", "ip"]
    list_filter = ["given", "at"]
    search_fields = ["client__email", "=ip"]
    list_select_related = ["client"]


@admin.register(CookieConsent)
class CookieConsentAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "client", "preference", "analytics", "marketing", "updated_at"]
    list_filter = ["preference", "analytics", "marketing", ("client", admin.EmptyFieldListFilter), "updated_at"]
    search_fields = ["client__email", "=visitor"]
    search_help_text = _("A client's email, or a visitor's whole cookie id.")
    list_select_related = ["client"]
