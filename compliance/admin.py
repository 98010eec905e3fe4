from django.contrib import admin

from compliance.models import AuditLog, AuditSeal, Complaint, Holiday, LegalAcceptance, LegalDocument
from core.admin import ReadOnlyAdmin


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
class LegalDocumentAdmin(admin.ModelAdmin):
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
        from django.db.models import Count

        return super().get_queryset(request).annotate(
            acceptance_count=Count("acceptances", distinct=True), notice_count=Count("notices", distinct=True)
        )

    @admin.display(description="accepted by")
    def acceptances(self, document) -> int:
        return document.acceptance_count

    @admin.display(description="emailed to")
    def notices(self, document) -> int:
        return document.notice_count

    def save_model(self, request, obj, form, change):
        from compliance.services import publish_document

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
class HolidayAdmin(admin.ModelAdmin):
    """Public holidays, skipped by complaint deadlines (CMP-4); seeded from the `holidays` library."""

    list_display = ["date", "name"]
    date_hierarchy = "date"
    search_fields = ["name"]


class DeadlineFilter(admin.SimpleListFilter):
    title = "deadline"
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return [("overdue", "Overdue"), ("soon", "Due within 5 days")]

    def queryset(self, request, queryset):
        import datetime

        from django.utils import timezone

        today = timezone.now().date()
        if self.value() == "overdue":
            return queryset.filter(status=Complaint.Status.OPEN, due_at__lt=today)
        if self.value() == "soon":
            return queryset.filter(status=Complaint.Status.OPEN, due_at__gte=today, due_at__lte=today + datetime.timedelta(days=5))
        return queryset


@admin.register(Complaint)
class ComplaintAdmin(admin.ModelAdmin):
    """Complaints with their deadlines (CMP-4): write the answer, save, then uphold or reject."""

    list_display = ["id", "kind", "status", "received_at", "due_at", "project_id", "complainant", "answered_at"]
    list_filter = [DeadlineFilter, "status", "kind"]
    search_fields = ["identification", "description", "complainant__email", "=project_id"]
    list_select_related = ["complainant"]
    readonly_fields = ["complainant", "kind", "identification", "description", "period_start", "period_end", "project_id", "status",
                       "received_at", "due_at", "answered_at", "answered_by"]
    fields = [*readonly_fields, "answer"]
    actions = ["uphold", "reject"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def _decide(self, request, queryset, upheld: bool):
        from django.core.exceptions import ValidationError

        from compliance.services import decide_complaint
        from core.admin import report

        done, refused = 0, []
        for complaint in queryset:
            try:
                decide_complaint(complaint=complaint, upheld=upheld, answer=complaint.answer, actor=request.user)
                done += 1
            except ValidationError as exc:
                refused.append(f"{complaint}: {' '.join(exc.messages)}")
        report(self, request, done, "Upheld" if upheld else "Rejected", refused)

    @admin.action(description="Uphold (answer saved first)", permissions=["change"])
    def uphold(self, request, queryset):
        self._decide(request, queryset, upheld=True)

    @admin.action(description="Reject (answer saved first)", permissions=["change"])
    def reject(self, request, queryset):
        self._decide(request, queryset, upheld=False)
