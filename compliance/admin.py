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
    list_display = ["kind", "version", "title", "published_at"]
    list_filter = ["kind"]
    search_fields = ["title", "version"]


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
