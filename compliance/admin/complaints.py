"""Complaints (CMP-4): due dates, upholding or rejecting with the answer to the complainant, suspending sending."""

import datetime

from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from compliance.admin.common import days_left, each, listed, prefill
from compliance.models import (
    Complaint,
)
from compliance.services import (
    decide_complaint,
    suspend_sending_for_complaint,
)
from core.admin import ask_first


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
