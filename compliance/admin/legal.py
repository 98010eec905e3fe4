"""The audit log and its seals (CMP-5, read only), legal documents and their acceptances, holidays."""


from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from compliance.admin.common import ConfirmedFormMixin
from compliance.models import (
    AuditLog,
    AuditSeal,
    Holiday,
    LegalAcceptance,
    LegalDocument,
)
from compliance.services import (
    COMPLAINT_WORKING_DAYS,
    publish_document,
)
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
