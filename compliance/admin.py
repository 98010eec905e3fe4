from django.contrib import admin

from compliance.models import AuditLog, AuditSeal, LegalAcceptance, LegalDocument
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
