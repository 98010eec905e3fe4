import datetime

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Max, Min, Prefetch
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext, ngettext, pgettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline

import projects.admin_funnels  # noqa: F401  (registers the funnel and sending admins: PRJ-6, MSG-1)
from accounts.models import normalize_email
from compliance.services import receive_privacy_request
from core.admin import CappedCountPaginator, ReadOnlyAdmin, ReasonForm, ask_first, confirmation, confirmed, refusal, report
from core.exceptions import RuleRefused
from projects import popup, selectors, services
from projects.access import SECTIONS
from projects.contacts import clean_phone
from projects.models import AddressBook, Contact, Project, ProjectMember, ProjectRestriction, Subscriber


class ProjectMemberInline(TabularInline):
    """Participants are managed by the project's own people (PRJ-1); staff see them."""

    model = ProjectMember
    fields = ["client", *SECTIONS, "granted_by", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("client", "granted_by")


class ProjectRestrictionInline(TabularInline):
    """Every reason the project was or is suspended for (PRJ-2), the ones that hold first."""

    model = ProjectRestriction
    fields = ["reason", "ref", "starts_at", "set_by", "note", "lifted_at", "lifted_by", "lift_note"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["lifted_at", "-starts_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def owner_of(project) -> str:
    owner = project.owner
    return f"{owner.name} <{owner.email}>" if owner.name else owner.email


def holding(project) -> dict[str, str]:
    """The reasons the project is suspended or locked for now (PRJ-2), prefetched as
    `open_restrictions`: each reason's code and how staff read it."""
    return {r.reason: str(r.get_reason_display()) for r in project.open_restrictions}


def open_restrictions():
    return Prefetch("restrictions", queryset=ProjectRestriction.objects.filter(lifted_at__isnull=True).order_by("starts_at"), to_attr="open_restrictions")




@admin.register(Project)
class ProjectAdmin(ModelAdmin):
    """Projects (PRJ-1, PRJ-2): staff clear or refuse a reviewed industry (PRJ-7) and suspend for a
    staff reason or lift it, each after a page that names the project and its owner."""

    list_display = ["__str__", "owner", "status", "industry", "review", "active_subscribers", "created_at", "deleted_at"]
    list_filter = ["status", "review", "industry", ("deleted_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["name", "owner__email", "=public_key", "=id"]
    search_help_text = _("Words of the name, the owner's email, the exact public key, or a project's id.")
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    readonly_fields = [
        "name", "owner", "status", "industry", "review", "reviewed_at", "reviewed_by", "public_key",
        "telegram_webhook_token", "created_at", "deleted_at", "active_subscribers",
    ]
    fields = readonly_fields
    inlines = [ProjectRestrictionInline, ProjectMemberInline]
    actions = ["clear_for_sending", "refuse_sending", "suspend_for_staff", "lift_staff_suspension"]
    show_full_result_count = False

    def get_queryset(self, request):
        # A correlated count, run for the rows of the page only, from the partial index.
        return super().get_queryset(request).annotate(active_subscribers=selectors.active_subscribers_of_project())

    @admin.display(description=_("active subscribers"), ordering="active_subscribers")
    def active_subscribers(self, project) -> int:
        return project.active_subscribers

    def has_add_permission(self, request) -> bool:
        return False  # a project is its owner's: clients create them

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the owner deletes; archived projects go by the retention window (DEA-2)

    def has_review_permission(self, request) -> bool:
        return request.user.has_perm("projects.review_project")

    def _names(self, project) -> dict:
        return {"project": project, "id": project.pk, "owner": owner_of(project), "industry": project.get_industry_display(),
                "review": project.get_review_display()}

    def _review(self, request, queryset, cleared: bool):
        projects = list(queryset.prefetch_related(open_restrictions()))

        def row(project) -> str:
            names = self._names(project)
            if cleared:
                others = [label for code, label in holding(project).items() if code != ProjectRestriction.Reason.INDUSTRY_REVIEW]
                if others:
                    then = gettext("its other reasons stay: %(reasons)s") % {"reasons": ", ".join(others)}
                else:
                    then = gettext("it may send again") if project.status == Project.Status.SUSPENDED else gettext("it may send")
                return gettext("“%(project)s” (%(id)s) of %(owner)s, %(industry)s, review %(review)s: cleared for sending; ") % names + then + "."
            return gettext("“%(project)s” (%(id)s) of %(owner)s, %(industry)s, review %(review)s: refused; it stays suspended for "
                           "industry review, runs no funnel and sends nothing until cleared.") % names

        page, reason = ask_first(
            self, request, projects, action=(self.clear_for_sending if cleared else self.refuse_sending).__name__, ask_reason=not cleared,
            title=gettext("Clear the industry for sending") if cleared else gettext("Refuse sending for the industry"),
            question=(gettext("The industries of ToU 21.6 send only once staff cleared them (PRJ-7). Clear these projects?") if cleared else
                      gettext("A refusal keeps the project from sending (PRJ-7); its owner sees why. Give the reason, kept in the audit log.")),
            rows=[row(p) for p in projects], submit=gettext("Yes, clear them") if cleared else gettext("Yes, refuse them"),
        )
        if page is not None:
            return page
        done, refused = [], []
        for project in projects:
            try:
                services.review_project(project=project, actor=request.user, cleared=cleared, note=reason)
                done.append(f"“{project}”")
            except RuleRefused as exc:
                refused.append(f"{project}: {refusal(exc)}")
        if done:
            self.message_user(request, (ngettext("Cleared %(count)s project for sending: %(rows)s.", "Cleared %(count)s projects for sending: %(rows)s.", len(done))
                                        if cleared else
                                        ngettext("Refused sending to %(count)s project: %(rows)s.", "Refused sending to %(count)s projects: %(rows)s.", len(done)))
                              % {"count": len(done), "rows": ", ".join(done)}, messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.ERROR)
        return None

    @admin.action(description=_("Clear the industry for sending (PRJ-7)"), permissions=["review"])
    def clear_for_sending(self, request, queryset):
        return self._review(request, queryset, cleared=True)

    @admin.action(description=_("Refuse sending for the industry, with a reason (PRJ-7)"), permissions=["review"])
    def refuse_sending(self, request, queryset):
        return self._review(request, queryset, cleared=False)

    def has_suspend_permission(self, request) -> bool:
        return request.user.has_perm("projects.suspend_project")

    @admin.action(description=_("Suspend for a staff reason, with the reason"), permissions=["suspend"])
    def suspend_for_staff(self, request, queryset):
        projects = list(queryset.prefetch_related(open_restrictions()))
        staff = ProjectRestriction.Reason.STAFF

        def row(project) -> str:
            names = self._names(project)
            if staff in holding(project):
                return gettext("“%(project)s” (%(id)s) of %(owner)s is suspended for a staff reason already: nothing changes.") % names
            return gettext("“%(project)s” (%(id)s) of %(owner)s: suspended for a staff reason beside any other; it runs no funnel and "
                           "sends nothing until staff lift it.") % names

        page, reason = ask_first(
            self, request, projects, action=self.suspend_for_staff.__name__, ask_reason=True, title=gettext("Suspend projects for a staff reason"),
            question=gettext("A staff suspension holds until staff lift it, whatever else is lifted (PRJ-2). Give the reason, kept with the "
                             "suspension and in the audit log."),
            rows=[row(p) for p in projects], submit=gettext("Yes, suspend them"),
        )
        if page is not None:
            return page
        try:
            suspended = set(services.suspend_for_staff(project_ids=[p.pk for p in projects], actor=request.user, note=reason))
        except ValidationError as exc:
            self.message_user(request, refusal(exc), messages.ERROR)
            return None
        done = [f"“{p}”" for p in projects if p.pk in suspended]
        if done:
            self.message_user(request, ngettext("Suspended %(count)s project for a staff reason: %(rows)s.", "Suspended %(count)s projects for a staff reason: %(rows)s.",
                                                len(done)) % {"count": len(done), "rows": ", ".join(done)}, messages.SUCCESS)
        else:
            self.message_user(request, gettext("Nothing changed: each project was suspended for a staff reason already."), messages.WARNING)
        return None

    @admin.action(description=_("Lift the staff suspension (other reasons stay)"), permissions=["suspend"])
    def lift_staff_suspension(self, request, queryset):
        projects = list(queryset.prefetch_related(open_restrictions()))
        staff = ProjectRestriction.Reason.STAFF

        def row(project) -> str:
            names = self._names(project)
            reasons = holding(project)
            if staff not in reasons:
                return gettext("“%(project)s” (%(id)s) of %(owner)s holds no staff suspension: nothing changes.") % names
            others = [label for code, label in reasons.items() if code != staff]
            if others:
                return gettext("“%(project)s” (%(id)s) of %(owner)s: the staff suspension is lifted; it stays suspended for %(reasons)s.") % {
                    **names, "reasons": ", ".join(others)}
            return gettext("“%(project)s” (%(id)s) of %(owner)s: the staff suspension is lifted and it runs again.") % names

        page, _reason = ask_first(
            self, request, projects, action=self.lift_staff_suspension.__name__, title=gettext("Lift the staff suspension"),
            question=gettext("Only the staff suspension is lifted: unpaid fees, complaints and industry review stay (PRJ-2). Lift it?"),
            rows=[row(p) for p in projects], submit=gettext("Yes, lift it"),
        )
        if page is not None:
            return page
        lifted = set(services.lift_staff_suspension(project_ids=[p.pk for p in projects], actor=request.user))
        done = [f"“{p}”" for p in projects if p.pk in lifted]
        if done:
            self.message_user(request, ngettext("Lifted the staff suspension of %(count)s project: %(rows)s.", "Lifted the staff suspension of %(count)s projects: %(rows)s.",
                                                len(done)) % {"count": len(done), "rows": ", ".join(done)}, messages.SUCCESS)
        else:
            self.message_user(request, gettext("Nothing changed: no project held a staff suspension."), messages.WARNING)
        return None


# --- undoing a flood of the pop-up form (issue 17, item 4) --------------------------------------

WINDOW_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
FLOOD_PROJECTS_AT_ONCE = 20


class FloodForm(ReasonForm):
    """The window of a pop-up flood, both ends included, and why it goes. `shown` is the window the
    page counted for: a window changed on the page is counted again before anything is done."""

    start = forms.DateTimeField(label=_("Added from"), input_formats=WINDOW_FORMATS, help_text=_("YYYY-MM-DD HH:MM:SS, in your time zone."))
    end = forms.DateTimeField(label=_("Added until (included)"), input_formats=WINDOW_FORMATS)
    shown = forms.CharField(widget=forms.HiddenInput, required=False)
    field_order = ["start", "end", "reason"]

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            self.add_error("end", gettext("The end of the window must not be before its start."))
        return data

    def window(self) -> tuple[datetime.datetime, datetime.datetime] | None:
        """(start, end), the end's whole second included; None while either is missing or wrong."""
        data = getattr(self, "cleaned_data", {})
        if not (data.get("start") and data.get("end")):
            return None
        return data["start"], data["end"] + datetime.timedelta(microseconds=999_999)


def window_key(window) -> str:
    return "|".join(str(int(moment.timestamp())) for moment in window)


def prefilled_window(queryset) -> tuple[dict, tuple[datetime.datetime, datetime.datetime]]:
    """The selected pop-up subscribers' span in whole seconds (the last one included), or the last
    hour: the form's initial values and the window they say."""
    made = Coalesce("created_at", "subscribed_at")
    span = queryset.filter(source=Subscriber.Source.POPUP).order_by().aggregate(first=Min(made), last=Max(made))
    end = (span["last"] or timezone.now()).replace(microsecond=0)
    start = (span["first"] or end - datetime.timedelta(hours=1)).replace(microsecond=0)
    window = (timezone.localtime(start), timezone.localtime(end) + datetime.timedelta(microseconds=999_999))
    initial = {"start": window[0].strftime(WINDOW_FORMATS[0]), "end": window[1].strftime(WINDOW_FORMATS[0]), "shown": window_key(window)}
    return initial, window


@admin.register(Subscriber)
class SubscriberAdmin(ReadOnlyAdmin):
    """Usable at a million rows: no full count, exact search on indexed columns only, raw IDs.
    Messenger user IDs appear here, to staff, and in no answer a participant gets (PRJ-4)."""

    list_display = ["__str__", "id", "project", "name", "email", "phone", "messenger", "messenger_user_id", "status", "source", "subscribed_at"]
    list_filter = ["status", "source", "messenger"]
    search_fields = ["email", "phone", "messenger_user_id"]
    search_help_text = _("An exact email, an international phone number (+49…), or a messenger user ID.")
    list_select_related = ["project"]
    raw_id_fields = ["project"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    actions = ["unsubscribe", "file_erasure_request", "remove_popup_flood"]

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("projects.change_subscriber")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Subscriber._meta.fields]

    def get_search_results(self, request, queryset, search_term):
        # Exact matches on indexed columns, never LIKE over a million rows.
        term = search_term.strip()
        if not term:
            return queryset, False
        if "@" in term:
            return queryset.filter(email=normalize_email(term)), False
        if term.startswith("+"):
            try:
                return queryset.filter(phone=clean_phone(term)), False
            except ValidationError:
                return queryset.none(), False
        return queryset.filter(messenger_user_id=term), False

    def has_privacy_permission(self, request) -> bool:
        return request.user.has_perm("compliance.change_privacyrequest")

    @admin.action(description=_("File an erasure request for each selected person (CMP-2), by its email or phone"), permissions=["privacy"])
    def file_erasure_request(self, request, queryset):
        chosen = list(queryset.select_related("project"))
        page, _reason = ask_first(
            self, request, chosen, action=self.file_erasure_request.__name__, title=gettext("File erasure requests"),
            question=gettext("File an erasure request (CMP-2) for the person behind each of these subscribers? Staff then fulfil it; "
                             "every project's record of that email or phone is erased."),
            rows=[gettext("%(who)s, subscriber of %(project)s") % {"who": s.email or s.phone or gettext("(no email or phone)"), "project": s.project}
                  for s in chosen],
            submit=gettext("Yes, file them"))
        if page is not None:
            return page
        done, refused = 0, []
        for subscriber in chosen:
            if not (subscriber.email or subscriber.phone):
                refused.append(gettext("Subscriber %(id)s: no email or phone to find the person by; erase the project's record instead.")
                               % {"id": subscriber.pk})
                continue
            receive_privacy_request(kind="erasure", subject_email=subscriber.email, subject_phone=subscriber.phone, actor=request.user,
                                    details=f"Filed by staff from subscriber {subscriber.pk} of project {subscriber.project_id}.")
            done += 1
        report(self, request, done, pgettext("admin action outcome", "Erasure requests filed"), refused)

    @admin.action(description=_("Unsubscribe the selected subscribers"), permissions=["change"])
    def unsubscribe(self, request, queryset):
        active = list(queryset.filter(status=Subscriber.Status.ACTIVE).select_related("project"))
        page, _reason = ask_first(
            self, request, active, action=self.unsubscribe.__name__, title=gettext("Unsubscribe subscribers"),
            question=gettext("Unsubscribe these subscribers (PRJ-3)? Their projects send them nothing more."),
            rows=[gettext("%(who)s, of %(project)s") % {"who": s.email or s.phone or s.name or s.pk, "project": s.project} for s in active]
            or [gettext("None of the selected subscribers is active.")],
            submit=gettext("Yes, unsubscribe them"))
        if page is not None:
            return page
        done = 0
        for subscriber in active:
            services.unsubscribe(subscriber=subscriber, actor=request.user)
            done += 1
        report(self, request, done, pgettext("admin action outcome", "Unsubscribed"), [])

    @admin.action(description=_("Remove pop-up subscribers added between … and …"), permissions=["change"])
    def remove_popup_flood(self, request, queryset):
        """The projects of the selected subscribers; the window prefilled from the selected pop-up
        subscribers, changeable; the counts per project, then `popup.remove_popup_flood`."""
        picks = list(queryset.order_by().values("project_id").annotate(pick=Min("pk")).values_list("pick", flat=True))
        if len(picks) > FLOOD_PROJECTS_AT_ONCE:
            self.message_user(request, gettext("Select subscribers of at most %(count)s projects at once.") % {"count": FLOOD_PROJECTS_AT_ONCE},
                              messages.ERROR)
            return None
        projects = list(Project.objects.filter(subscribers__pk__in=picks).select_related("owner").order_by("pk"))
        if confirmed(request):
            form = FloodForm(request.POST)
            valid, window = form.is_valid(), form.window()
            if valid and form.cleaned_data["shown"] == window_key(window):
                return self._remove_flood(request, projects, form)
            if window is not None and form.cleaned_data.get("shown") != window_key(window):
                # A window changed on the page: counted anew below, to be confirmed again.
                form = FloodForm({**request.POST.dict(), "shown": window_key(window)})
                form.is_valid()
        else:
            initial, window = prefilled_window(queryset)
            form = FloodForm(initial=initial)

        def row(project) -> str:
            names = {"project": project, "id": project.pk, "owner": owner_of(project)}
            if window is None:
                return gettext("“%(project)s” (%(id)s) of %(owner)s") % names
            flood = popup.popup_flood(project=project, start=window[0], end=window[1])
            return gettext("“%(project)s” (%(id)s) of %(owner)s: pop-up subscribers deleted: %(removed)s; re-subscribed by the form, "
                           "unsubscribed again: %(unsubscribed)s.") % {**names, "removed": flood.removed, "unsubscribed": flood.unsubscribed}

        page = confirmation(
            self, request, admin_action=self.remove_popup_flood.__name__, title=gettext("Remove pop-up subscribers"),
            question=gettext("The active subscribers the pop-up form added to these projects in the window are deleted, with what funnels and "
                             "messages kept of them; people it subscribed again then are unsubscribed again. Unsubscribed ones stay. Counted "
                             "for the window below; a changed window is counted again first."),
            rows=[row(p) for p in projects], ids=picks, submit=gettext("Yes, remove them"), extra={"flood_form": form},
        )
        page.template_name = "admin/projects/subscriber/confirm_flood.html"
        return page

    def _remove_flood(self, request, projects, form):
        start, end = form.window()
        removed = unsubscribed = 0
        for project in projects:
            flood = popup.remove_popup_flood(project=project, start=start, end=end, actor=request.user, reason=form.cleaned_data["reason"])
            removed, unsubscribed = removed + flood.removed, unsubscribed + flood.unsubscribed
        self.message_user(request, gettext("Pop-up subscribers deleted: %(removed)s; unsubscribed again: %(unsubscribed)s; from %(projects)s.")
                          % {"removed": removed, "unsubscribed": unsubscribed, "projects": ", ".join(f"“{p}”" for p in projects)}, messages.SUCCESS)
        return None


@admin.register(AddressBook)
class AddressBookAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "project", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["name", "project__name", "=project__id"]
    list_select_related = ["project"]
    raw_id_fields = ["project"]


@admin.register(Contact)
class ContactAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "id", "address_book", "name", "email", "phone", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["=email", "=phone"]
    search_help_text = _("An exact email or phone.")
    list_select_related = ["address_book"]
    raw_id_fields = ["address_book"]
    paginator = CappedCountPaginator
    show_full_result_count = False
