"""The staff console for funnels and sending (PRJ-6, MSG-1), registered from `projects.admin`.

Everything here is read-only: staff do not edit funnels, bots or messages by hand. What staff may
do goes through the services, which validate it and write it to the audit log (CMP-5): restoring
the blocks the loop guard deleted, cancelling a broadcast. Both actions first show what they will
do on a confirmation page, and act only when it is confirmed."""


from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline

from compliance.models import AuditLog
from core.admin import CappedCountPaginator, ReadOnlyAdmin, confirmation, confirmed, refusal
from core.exceptions import RuleRefused
from projects.audit_actions import Audit
from projects.funnels.services import replace_funnel, spec_from_dict
from projects.models import Block, Broadcast, Funnel, FunnelStep, OutboundMessage, ProjectBot
from projects.sending.broadcasts import cancel_broadcast


def counted(rows, by: str) -> Coalesce:
    """A correlated count of `rows` per parent row (`by` is the link to it), evaluated for the
    rows of the page only: no GROUP BY over the whole child table, no query per row."""
    per_parent = rows.filter(**{by: OuterRef("pk")}).order_by().values(by).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(per_parent, output_field=IntegerField()), Value(0))


# Funnels (PRJ-6) ---------------------------------------------------------------------------------


class BlockInline(TabularInline):
    """A funnel's blocks, as stored: changed only through the funnel services (validated, audited)."""

    model = Block
    fields = ["position", "key", "kind", "text", "buttons", "next", "else_next", "delay_seconds", "action", "field", "value", "tag"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class BlockKindFilter(admin.SimpleListFilter):
    """Funnels with at least one block of a kind (EXISTS: one row per funnel, no DISTINCT)."""

    title = _("has a block of kind")
    parameter_name = "block_kind"

    def lookups(self, request, model_admin):
        return Block.Kind.choices

    def queryset(self, request, queryset):
        if self.value() not in Block.Kind.values:
            return queryset
        return queryset.filter(Exists(Block.objects.filter(funnel=OuterRef("pk"), kind=self.value())))


class RestorePlan:
    """What restoring one funnel would do: the spec of its latest `funnel.loop` entry and how many
    blocks come back, or why nothing can be restored."""

    def __init__(self, funnel: Funnel, spec=None, coming_back: int = 0, refused: str = "") -> None:
        self.funnel, self.spec, self.coming_back, self.refused = funnel, spec, coming_back, refused

    def sentence(self) -> str:
        if self.refused:
            return self.refused
        return ngettext("“%(funnel)s” (project %(project)s): %(count)s block comes back.",
                        "“%(funnel)s” (project %(project)s): %(count)s blocks come back.", self.coming_back) % {
            "funnel": self.funnel.name, "project": self.funnel.project, "count": self.coming_back}


def restore_plans(funnels) -> list[RestorePlan]:
    """For each funnel, from its audit log (one query for all of them, on the `audit_target`
    index): the funnel as the loop guard found it, in its latest `funnel.loop` entry. A funnel
    changed since (edited or already restored) is refused: restoring would undo that change."""
    funnels = list(funnels.select_related("project").prefetch_related("blocks"))
    entries = AuditLog.objects.filter(
        target_type=Funnel._meta.label_lower, target_id__in=[str(f.pk) for f in funnels],
        action__in=[Audit.FUNNEL_LOOP, Audit.FUNNEL_UPDATED, Audit.FUNNEL_RESTORED],
    ).order_by("created_at", "id").values("target_id", "action", "details")
    latest = {entry["target_id"]: entry for entry in entries}  # the last entry of each funnel wins
    plans = []
    for funnel in funnels:
        entry = latest.get(str(funnel.pk))
        names = {"funnel": funnel.name}
        if entry is None:
            plans.append(RestorePlan(funnel, refused=gettext("“%(funnel)s”: the loop guard never stopped this funnel, there is nothing to restore.") % names))
        elif entry["action"] != Audit.FUNNEL_LOOP:
            plans.append(RestorePlan(funnel, refused=gettext("“%(funnel)s” has been edited or restored since the loop guard stopped it: "
                                                             "restoring would undo that, so nothing was restored.") % names))
        else:
            spec = spec_from_dict(entry["details"]["funnel"])
            stored = {block.key for block in funnel.blocks.all()}
            coming_back = sum(1 for block in spec.blocks if block.key not in stored)
            plans.append(RestorePlan(funnel, spec=spec, coming_back=coming_back))
    return plans


@admin.register(Funnel)
class FunnelAdmin(ReadOnlyAdmin):
    """Funnels, read-only (PRJ-6): their blocks change through the funnel services alone, so every
    change is validated and audited (CMP-5). Staff restore what the loop guard deleted."""

    list_display = ["name", "project", "block_count", "start", "updated_at"]
    list_filter = [BlockKindFilter]
    search_fields = ["name", "project__name", "project__owner__email"]
    list_select_related = ["project"]
    inlines = [BlockInline]
    actions = ["restore_blocks"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(block_total=counted(Block.objects.all(), "funnel"))

    @admin.display(description=_("blocks"), ordering="block_total")
    def block_count(self, funnel) -> int:
        return funnel.block_total

    def has_restore_permission(self, request) -> bool:
        return request.user.has_perm("projects.change_funnel")

    @admin.action(description=_("Restore the blocks the loop guard deleted (PRJ-6)"), permissions=["restore"])
    def restore_blocks(self, request, queryset):
        plans = restore_plans(queryset)
        if not confirmed(request) and any(plan.spec is not None for plan in plans):
            return confirmation(
                self, request, admin_action=self.restore_blocks.__name__, title=gettext("Restore the blocks the loop guard deleted"),
                question=gettext("Each funnel gets back its blocks as they were when the loop guard stopped it. "
                                 "The owner's account stays blocked for the loop (PRJ-6): lift that on the client if it should end. Restore them?"),
                rows=[plan.sentence() for plan in plans], ids=[plan.funnel.pk for plan in plans], submit=gettext("Yes, restore them"),
            )
        for plan in plans:
            if plan.spec is None:
                self.message_user(request, plan.refused, messages.ERROR)
                continue
            try:
                replace_funnel(funnel=plan.funnel, actor=request.user, spec=plan.spec, action=Audit.FUNNEL_RESTORED, by_staff=True)
            except (RuleRefused, ValidationError) as exc:
                self.message_user(request, f"“{plan.funnel.name}”: {refusal(exc)}", messages.ERROR)
                continue
            self.message_user(request, ngettext("Restored %(count)s block of “%(funnel)s”.", "Restored %(count)s blocks of “%(funnel)s”.",
                                                plan.coming_back) % {"count": plan.coming_back, "funnel": plan.spec.name}, messages.SUCCESS)
        return None


@admin.register(FunnelStep)
class FunnelStepAdmin(ReadOnlyAdmin):
    """Every entry of a subscriber into a block: the trail the loop guard counted (PRJ-6)."""

    list_display = ["__str__", "funnel", "subscriber_id", "block", "via", "entered_at"]
    list_filter = ["via"]
    search_fields = ["subscriber__id__exact", "funnel__id__exact"]
    search_help_text = _("A subscriber's or a funnel's id.")
    list_select_related = ["funnel"]
    paginator = CappedCountPaginator
    show_full_result_count = False


# Sending (MSG-1) ---------------------------------------------------------------------------------


@admin.register(ProjectBot)
class ProjectBotAdmin(ReadOnlyAdmin):
    """A project's Telegram bot. Its token is never shown, not even encrypted: not in the list,
    not on the change page."""

    list_display = ["project", "__str__", "name", "bot_id", "connected_at", "connected_by"]
    search_fields = ["project__name", "username", "project__owner__email"]
    list_select_related = ["project", "connected_by"]
    fields = ["project", "username", "name", "bot_id", "connected_at", "connected_by"]
    readonly_fields = fields
    exclude = ["token_encrypted"]


S = OutboundMessage.Status


@admin.register(Broadcast)
class BroadcastAdmin(ReadOnlyAdmin):
    """Broadcasts with what happened to their messages (MSG-1), counted for the page's rows from
    the (broadcast, status) index; staff cancel a running one."""

    list_display = ["__str__", "status", "project", "recipients", "sent", "failed", "blocked", "created_at", "started_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["project__name", "project__owner__email"]
    list_select_related = ["project"]
    readonly_fields = ["project", "text", "tag", "send_at", "status", "recipients", "sent", "failed", "blocked", "created_by", "created_at",
                       "started_at", "finished_at", "cancelled_by"]
    fields = readonly_fields
    show_full_result_count = False
    actions = ["cancel"]

    def get_queryset(self, request):
        # The same counts as `counts_of`: a skipped message (the project may not send) is a failure.
        messages_ = OutboundMessage.objects.filter(broadcast__isnull=False)
        return super().get_queryset(request).annotate(
            sent_total=counted(messages_.filter(status=S.SENT), "broadcast"),
            failed_total=counted(messages_.filter(status__in=[S.FAILED, S.SKIPPED]), "broadcast"),
            blocked_total=counted(messages_.filter(status=S.BLOCKED), "broadcast"),
        )

    @admin.display(description=_("sent"), ordering="sent_total")
    def sent(self, broadcast) -> int:
        return broadcast.sent_total

    @admin.display(description=_("failed"), ordering="failed_total")
    def failed(self, broadcast) -> int:
        return broadcast.failed_total

    @admin.display(description=_("bot blocked"), ordering="blocked_total")
    def blocked(self, broadcast) -> int:
        return broadcast.blocked_total

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("projects.change_broadcast")

    @admin.action(description=_("Cancel the selected broadcasts (what is not sent yet is not sent)"), permissions=["cancel"])
    def cancel(self, request, queryset):
        broadcasts = list(queryset)
        running = [b for b in broadcasts if b.is_running]
        if not confirmed(request) and running:
            def row(b: Broadcast) -> str:
                if not b.is_running:
                    return gettext("%(broadcast)s has finished (%(status)s): nothing to cancel.") % {"broadcast": b, "status": b.get_status_display()}
                return gettext("%(broadcast)s (%(status)s, %(recipients)s recipients, %(sent)s sent so far).") % {
                    "broadcast": b, "status": b.get_status_display(), "recipients": b.recipients, "sent": b.sent_total}

            return confirmation(
                self, request, admin_action=self.cancel.__name__, title=gettext("Cancel broadcasts"),
                question=gettext("The messages of these broadcasts that are not sent yet will never be sent. This cannot be undone. Cancel them?"),
                rows=[row(b) for b in broadcasts], ids=[b.pk for b in broadcasts], submit=gettext("Yes, cancel them"),
            )
        done = 0
        for broadcast in broadcasts:
            try:
                cancel_broadcast(broadcast=broadcast, actor=request.user, by_staff=True)
                done += 1
            except RuleRefused as exc:
                self.message_user(request, f"{broadcast}: {refusal(exc)}", messages.ERROR)
        if done:
            self.message_user(request, ngettext("Cancelled %(count)s broadcast: what was not sent yet will not be sent.",
                                                "Cancelled %(count)s broadcasts: what was not sent yet will not be sent.", done) % {"count": done},
                              messages.SUCCESS)
        return None


@admin.register(OutboundMessage)
class OutboundMessageAdmin(ReadOnlyAdmin):
    """Every message sent, with its outcome (MSG-1): view only, usable at millions of rows."""

    list_display = ["id", "project", "subscriber_id", "broadcast", "block", "status", "attempts", "error", "created_at", "sent_at"]
    list_filter = ["status"]
    search_fields = ["project__id__exact", "error"]
    search_help_text = _("A project's id, or words of the error.")
    list_select_related = ["project", "broadcast"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50
