import datetime

from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext
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
from core.admin import ReadOnlyAdmin, refusal, report
from core.exceptions import RuleRefused


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
class LegalDocumentAdmin(ModelAdmin):
    """Staff publish a version here (CMP-1); a published text is never edited: publish a new one.
    Publishing emails every client in background batches."""

    list_display = ["kind", "version", "title", "published_at", "acceptances", "notices"]
    list_filter = ["kind"]
    search_fields = ["title", "version"]
    fields = ["kind", "version", "title", "body"]

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            acceptance_count=Count("acceptances", distinct=True), notice_count=Count("notices", distinct=True)
        )

    @admin.display(description=_("accepted by"))
    def acceptances(self, document) -> int:
        return document.acceptance_count

    @admin.display(description=_("emailed to"))
    def notices(self, document) -> int:
        return document.notice_count

    def save_model(self, request, obj, form, change):
        published = publish_document(actor=request.user, **{name: form.cleaned_data[name] for name in self.fields})
        obj.pk, obj._state.adding = published.pk, False


@admin.register(LegalAcceptance)
class LegalAcceptanceAdmin(ReadOnlyAdmin):
    list_display = ["client", "document", "accepted_at", "ip"]
    list_filter = ["document__kind"]
    search_fields = ["client__email"]
    list_select_related = ["client", "document"]
    raw_id_fields = ["client"]


@admin.register(AuditSeal)
class AuditSealAdmin(ReadOnlyAdmin):
    """The daily seals of the audit log; `manage.py verify_audit_log` checks them."""

    list_display = ["day", "entries", "digest", "sealed_at"]
    date_hierarchy = "day"


@admin.register(Holiday)
class HolidayAdmin(ModelAdmin):
    """Public holidays, skipped by complaint deadlines (CMP-4); seeded from the `holidays` library."""

    list_display = ["date", "name"]
    date_hierarchy = "date"
    search_fields = ["name"]


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


@admin.register(Complaint)
class ComplaintAdmin(ModelAdmin):
    """Complaints with their deadlines (CMP-4): write the answer, save, then uphold or reject."""

    list_display = ["id", "kind", "status", "received_at", "due_at", "project_id", "matched", "complainant", "answered_at"]
    list_filter = [DeadlineFilter, "status", "kind", "matched"]
    search_fields = ["identification", "description", "complainant__email", "=project_id"]
    list_select_related = ["complainant"]
    readonly_fields = ["complainant", "kind", "identification", "description", "period_start", "period_end", "project_id", "matched", "status",
                       "received_at", "due_at", "answered_at", "answered_by"]
    fields = [*readonly_fields, "answer"]
    actions = ["uphold", "reject", "suspend_sending"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def _decide(self, request, queryset, upheld: bool):
        done, refused = 0, []
        for complaint in queryset:
            try:
                decide_complaint(complaint=complaint, upheld=upheld, answer=complaint.answer, actor=request.user)
                done += 1
            except ValidationError as exc:
                refused.append(f"{complaint}: {' '.join(exc.messages)}")
        outcome = pgettext("admin action outcome", "Upheld") if upheld else pgettext("admin action outcome", "Rejected")
        report(self, request, done, outcome, refused)

    @admin.action(description=_("Uphold (answer saved first)"), permissions=["change"])
    def uphold(self, request, queryset):
        self._decide(request, queryset, upheld=True)

    @admin.action(description=_("Reject (answer saved first)"), permissions=["change"])
    def reject(self, request, queryset):
        self._decide(request, queryset, upheld=False)

    @admin.action(description=_("Suspend the project's sending (a spam complaint from a stranger)"), permissions=["change"])
    def suspend_sending(self, request, queryset):
        done, refused = 0, []
        for complaint in queryset:
            try:
                suspend_sending_for_complaint(complaint=complaint, actor=request.user)
                done += 1
            except RuleRefused as exc:
                refused.append(f"{complaint}: {refusal(exc)}")
        report(self, request, done, pgettext("admin action outcome", "Suspended the sending for"), refused)


class ExtendForm(ActionForm):
    months = forms.IntegerField(required=False, min_value=1, max_value=2, label=_("Extend by months"))
    reason = forms.CharField(required=False, max_length=300, label=_("Reason"))


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


@admin.register(PrivacyRequest)
class PrivacyRequestAdmin(ModelAdmin):
    """Data subject requests with their deadlines (CMP-2): extend with a reason, fulfil, refuse."""

    list_display = ["id", "kind", "client", "subject_email", "subject_phone", "status", "received_at", "due_at", "extension_reason"]
    list_filter = [DeadlineFilter, "status", "kind"]
    search_fields = ["client__email", "subject_email", "=subject_phone", "details"]
    list_select_related = ["client"]
    readonly_fields = ["client", "subject_email", "subject_phone", "kind", "details", "status", "received_at", "due_at", "extension_reason",
                       "decided_at", "decided_by"]
    fields = [*readonly_fields, "staff_note"]
    add_fields = ["kind", "subject_email", "subject_phone", "details"]
    action_form = ExtendForm
    actions = ["extend", "fulfil", "refuse"]

    def has_add_permission(self, request) -> bool:
        # Staff file a request for a person who is no client (a subscriber): by its email or phone.
        return request.user.has_perm("compliance.change_privacyrequest")

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

    def _each(self, request, queryset, verb: str, call):
        done, refused = 0, []
        for privacy_request in queryset:
            try:
                call(privacy_request)
                done += 1
            except (ValidationError, RuleRefused) as exc:
                refused.append(f"{privacy_request}: {refusal(exc)}")
        report(self, request, done, verb, refused)

    @admin.action(description=_("Extend the deadline (months and reason beside)"), permissions=["change"])
    def extend(self, request, queryset):
        months = int(request.POST.get("months") or 0)
        self._each(request, queryset, pgettext("admin action outcome", "Extended"), lambda r: extend_privacy_request(request=r, months=months, reason=request.POST.get("reason", ""), actor=request.user))

    @admin.action(description=_("Mark fulfilled"), permissions=["change"])
    def fulfil(self, request, queryset):
        self._each(request, queryset, pgettext("admin action outcome", "Fulfilled"), lambda r: decide_privacy_request(request=r, fulfilled=True, note=r.staff_note, actor=request.user))

    @admin.action(description=_("Refuse (reason in the staff note)"), permissions=["change"])
    def refuse(self, request, queryset):
        self._each(request, queryset, pgettext("admin action outcome", "Refused"), lambda r: decide_privacy_request(request=r, fulfilled=False, note=r.staff_note, actor=request.user))


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
    """Security incidents (CMP-6): affected clients told within 72 hours of the discovery."""

    list_display = ["id", "discovered_at", "notify_by", "notified_at", "affected_count"]
    list_filter = [IncidentDeadlineFilter]
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

    @admin.display(description=_("affected clients"))
    def affected_count(self, incident) -> int:
        return incident.affected_total

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=_("Email the affected clients now"), permissions=["change"])
    def notify(self, request, queryset):
        incidents = list(queryset)
        for incident in incidents:
            notify_incident(incident=incident, actor=request.user)  # an incident told before is left as it is
        report(self, request, len(incidents), pgettext("admin action outcome", "Notified"), [])


@admin.register(MarketingConsent)
class MarketingConsentAdmin(ReadOnlyAdmin):
    list_display = ["client", "given", "at", "ip"]
    list_filter = ["given"]
    search_fields = ["client__email"]
    list_select_related = ["client"]


@admin.register(CookieConsent)
class CookieConsentAdmin(ReadOnlyAdmin):
    list_display = ["visitor", "client", "preference", "analytics", "marketing", "updated_at"]
    list_filter = ["preference", "analytics", "marketing"]
