"""Incidents (CMP-6) and their 72 hours; marketing and cookie consents, read only."""

import datetime

from django import forms
from django.contrib import admin
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from compliance.admin.common import each, listed
from compliance.models import (
    CookieConsent,
    Incident,
    MarketingConsent,
)
from compliance.services import (
    INCIDENT_NOTICE_HOURS,
    incident_errors,
    incident_state,
    note_incident_saved,
    notify_incident,
)
from core.admin import ReadOnlyAdmin, ask_first


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
