from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline

import projects.admin_funnels  # noqa: F401  (registers the funnel and sending admins: PRJ-6, MSG-1)
from accounts.models import normalize_email
from compliance.services import receive_privacy_request
from core.admin import CappedCountPaginator, ReadOnlyAdmin, refusal, report
from core.exceptions import RuleRefused
from projects import selectors, services
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


class ProjectActionForm(ActionForm):
    note = forms.CharField(label=_("Note"), required=False, widget=forms.TextInput(attrs={"placeholder": _("why (for the history)")}))


@admin.register(Project)
class ProjectAdmin(ModelAdmin):
    list_display = ["name", "owner", "status", "industry", "review", "active_subscribers", "created_at", "deleted_at"]
    list_filter = ["status", "review", "industry", ("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "owner__email", "=public_key"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    readonly_fields = [
        "name", "owner", "status", "industry", "review", "reviewed_at", "reviewed_by", "public_key",
        "telegram_webhook_token", "created_at", "deleted_at", "active_subscribers",
    ]
    fields = readonly_fields
    inlines = [ProjectRestrictionInline, ProjectMemberInline]
    actions = ["clear_for_sending", "refuse_sending", "suspend_for_staff", "lift_staff_suspension"]
    action_form = ProjectActionForm
    show_full_result_count = False

    def get_queryset(self, request):
        # A correlated count, run for the rows of the page only, from the partial index.
        return super().get_queryset(request).annotate(active_subscribers=selectors.active_subscribers_of_project())

    @admin.display(description=_("active subscribers"))
    def active_subscribers(self, project) -> int:
        return project.active_subscribers

    def has_add_permission(self, request) -> bool:
        return False  # a project is its owner's: clients create them

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the owner deletes; archived projects go by the retention window (DEA-2)

    def has_review_permission(self, request) -> bool:
        return request.user.has_perm("projects.review_project")

    def _review(self, request, queryset, cleared: bool):
        done, refused = 0, []
        for project in queryset:
            try:
                services.review_project(project=project, actor=request.user, cleared=cleared)
                done += 1
            except RuleRefused as exc:
                refused.append(f"{project}: {refusal(exc)}")
        outcome = pgettext("admin action outcome", "Cleared for sending") if cleared else pgettext("admin action outcome", "Refused sending")
        report(self, request, done, outcome, refused)

    @admin.action(description=_("Clear the industry for sending (PRJ-7)"), permissions=["review"])
    def clear_for_sending(self, request, queryset):
        self._review(request, queryset, cleared=True)

    @admin.action(description=_("Refuse sending for the industry (PRJ-7)"), permissions=["review"])
    def refuse_sending(self, request, queryset):
        self._review(request, queryset, cleared=False)

    def has_suspend_permission(self, request) -> bool:
        return request.user.has_perm("projects.suspend_project")

    @admin.action(description=_("Suspend for a staff reason (the note beside says why)"), permissions=["suspend"])
    def suspend_for_staff(self, request, queryset):
        try:
            done = services.suspend_for_staff(project_ids=list(queryset.values_list("pk", flat=True)), actor=request.user,
                                              note=request.POST.get("note", ""))
        except ValidationError as exc:
            self.message_user(request, refusal(exc), messages.ERROR)
            return
        report(self, request, len(done), pgettext("admin action outcome", "Suspended for a staff reason"), [])

    @admin.action(description=_("Lift the staff suspension (other reasons stay)"), permissions=["suspend"])
    def lift_staff_suspension(self, request, queryset):
        done = services.lift_staff_suspension(project_ids=list(queryset.values_list("pk", flat=True)), actor=request.user,
                                              note=request.POST.get("note", ""))
        report(self, request, len(done), pgettext("admin action outcome", "Staff suspension lifted"), [])


@admin.register(Subscriber)
class SubscriberAdmin(ReadOnlyAdmin):
    """Usable at a million rows: no full count, exact search on indexed columns only, raw IDs.
    Messenger user IDs appear here, to staff, and in no answer a participant gets (PRJ-4)."""

    list_display = ["id", "project", "name", "email", "phone", "messenger", "messenger_user_id", "status", "source", "subscribed_at"]
    list_filter = ["status", "source", "messenger"]
    search_fields = ["email", "phone", "messenger_user_id"]
    search_help_text = _("An exact email, an international phone number (+49…), or a messenger user ID.")
    list_select_related = ["project"]
    raw_id_fields = ["project"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    actions = ["unsubscribe", "file_erasure_request"]

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
        done, refused = 0, []
        for subscriber in queryset:
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
        done = 0
        for subscriber in queryset.filter(status=Subscriber.Status.ACTIVE):
            services.unsubscribe(subscriber=subscriber, actor=request.user)
            done += 1
        report(self, request, done, pgettext("admin action outcome", "Unsubscribed"), [])


@admin.register(AddressBook)
class AddressBookAdmin(ReadOnlyAdmin):
    list_display = ["name", "project", "created_at"]
    search_fields = ["name", "project__name"]
    list_select_related = ["project"]
    raw_id_fields = ["project"]


@admin.register(Contact)
class ContactAdmin(ReadOnlyAdmin):
    list_display = ["id", "address_book", "name", "email", "phone", "created_at"]
    search_fields = ["=email", "=phone"]
    list_select_related = ["address_book"]
    raw_id_fields = ["address_book"]
    paginator = CappedCountPaginator
    show_full_result_count = False
