"""The night from the admin: tonight's dry run as a table, then Run tonight confirmed; each run's steps and failures."""


from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import localize
from django.utils.html import format_html_join
from django.utils.timezone import localtime
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline

from accounts.models import Client
from billing import night as night_module
from billing.admin.common import ButtonsMixin, client_link, deny_unless, money, page
from billing.models import (
    NightlyRun,
    NightlyStep,
)
from billing.night.recount import stale_before
from core.admin import ReadOnlyAdmin, change_url, changelist_url, confirmed
from core.money import dollars

DRY_RUN_ROWS = 500  # rows shown per step of a dry run's table (the totals count them all)


# --- the night ------------------------------------------------------------------------------------


class NightlyStepInline(TabularInline):
    model = NightlyStep
    charged = money("charged_cents", _("charged"))
    credited = money("credited_cents", _("credited"))
    fields = ["name", "clients", "skipped", "charged", "credited", "took", "failure_list"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("seconds"))
    def took(self, step) -> str:
        return "—" if step.seconds is None else f"{step.seconds:.1f}"

    @admin.display(description=_("failures"))
    def failure_list(self, step) -> str:
        if not step.failures:
            return "—"
        return format_html_join(
            "", "<div>{}: {}</div>",
            ((client_link(f["client"]) if f.get("client") else gettext("chunk %(chunk)s") % {"chunk": f.get("chunk", "")}, f.get("error", ""))
             for f in step.failures))


KIND_LABELS = {
    "package_change": _("package change"), "renewal": _("renewal"), "free_limit_block": _("blocked: over the Free limit"),
    "free_limit_lift": _("Free limit block lifted"), "end_pro": _("PRO ends"), "collect": _("collect from the card"), "settle": _("debt settled"),
    "purge_projects": _("archived projects deleted"),
}


def dry_run_table(run: NightlyRun) -> dict:
    """A dry run's report as staff read it: per step, each client, what, how much, why; totals."""
    steps = [(name, items) for name, items in run.report.items() if name != "totals" and isinstance(items, list)]
    ids = {d["client_id"] for _, items in steps for d in items[:DRY_RUN_ROWS]}
    clients = Client.objects.only("pk", "email").in_bulk(ids)
    table = []
    for name, items in steps:
        rows = [{"client": client_link(d["client_id"], clients[d["client_id"]].email if d["client_id"] in clients else None),
                 "what": KIND_LABELS.get(d["kind"], d["kind"].replace("_", " ")),
                 "amount": dollars(d["amount_cents"]) if d["amount_cents"] else "—", "detail": d["detail"]} for d in items[:DRY_RUN_ROWS]]
        table.append({"name": name, "rows": rows, "count": len(items), "more": max(0, len(items) - DRY_RUN_ROWS)})
    return {"steps": table, "totals": night_totals(run.report.get("totals", {}))}


def night_totals(totals: dict) -> list[str]:
    """A dry run's totals in sentences."""
    if not totals:
        return []
    sentences = [gettext("Charged (renewals and packages added): %(amount)s") % {"amount": dollars(totals.get("charged_cents", 0))},
                 gettext("Credited (packages removed): %(amount)s") % {"amount": dollars(totals.get("credited_cents", 0))},
                 ngettext("Collected from the cards: up to %(amount)s from %(count)s client", "Collected from the cards: up to %(amount)s from %(count)s clients",
                          len(totals.get("collections", []))) % {"amount": dollars(totals.get("collect_cents", 0)), "count": len(totals.get("collections", []))}]
    counts = [(totals.get("free_limit_blocks", []), gettext("blocked for the Free limit")), (totals.get("free_limit_lifts", []), gettext("Free limit block lifted")),
              (totals.get("suspend_if_unpaid", []), gettext("suspended if the card fails")), (totals.get("block_if_unpaid", []), gettext("blocked if the card fails")),
              (totals.get("deactivate_if_unpaid", []), gettext("PRO ended if the card fails")), (totals.get("settled", []), gettext("debt settled"))]
    sentences += [gettext("%(what)s: %(count)s clients") % {"what": what, "count": len(ids)} for ids, what in counts if ids]
    return sentences


def night_money(steps) -> dict:
    """A real night's money from its steps: charged to the wallets (renewals, packages added),
    credited (packages removed), and collected from the cards by dunning (that charge paid again
    from the card, not a second charge)."""
    return {"charged": dollars(sum(s.charged_cents for s in steps if s.name != "dunning")),
            "credited": dollars(sum(s.credited_cents for s in steps)),
            "collected": dollars(sum(s.charged_cents for s in steps if s.name == "dunning")),
            "failures": sum(len(s.failures) for s in steps)}


@admin.register(NightlyRun)
class NightlyRunAdmin(ButtonsMixin, ReadOnlyAdmin):
    """Each night and each step: when, how long, how many clients, charges, credits, failures;
    tonight's dry run and tonight's run from the list (`billing.run_night`)."""

    list_display = ["__str__", "night", "at", "dry_run", "state", "charged", "credited", "collected", "failures", "started_at", "finished_at"]
    list_filter = ["status", "dry_run", "night"]
    search_fields = ["error"]
    search_help_text = _("Search the error of a night that stopped.")
    date_hierarchy = "night"
    fields = ["night", "at", "dry_run", "state", "started_at", "heartbeat_at", "finished_at", "totals", "error"]
    readonly_fields = fields
    inlines = [NightlyStepInline]
    actions = ["rerun"]
    change_list_template = "admin/billing/nightlyrun/change_list.html"
    change_form_template = "admin/billing/nightlyrun/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("steps")

    @admin.display(description=_("status"), ordering="status")
    def state(self, run) -> str:
        """Its status; a running night with no sign of life for NIGHT_STALE_AFTER was killed, and
        the next run closes it as interrupted with its true counts (issue 17)."""
        alive = run.heartbeat_at or run.started_at
        if run.status == NightlyRun.Status.RUNNING and not run.dry_run and alive < stale_before():
            return gettext("Running, no sign of life since %(since)s: killed? The next run closes it as interrupted") % {
                "since": localize(localtime(alive))}
        return run.get_status_display()

    @admin.display(description=_("failures"))
    def failures(self, run) -> int:
        return sum(len(step.failures) for step in run.steps.all())

    def _money(self, run, what: str) -> str:
        if run.dry_run:
            return dollars(run.report.get("totals", {}).get({"charged": "charged_cents", "credited": "credited_cents", "collected": "collect_cents"}[what], 0))
        return night_money(run.steps.all())[what]

    @admin.display(description=_("charged"))
    def charged(self, run) -> str:
        return self._money(run, "charged")

    @admin.display(description=_("credited"))
    def credited(self, run) -> str:
        return self._money(run, "credited")

    @admin.display(description=_("collected from cards"))
    def collected(self, run) -> str:
        return self._money(run, "collected")

    @admin.display(description=_("totals"))
    def totals(self, run) -> str:
        if run.dry_run:
            return format_html_join("", "<div>{}</div>", ((s,) for s in night_totals(run.report.get("totals", {})))) or "—"
        return gettext("charged %(charged)s, credited %(credited)s, collected from cards %(collected)s, %(failures)s failures") % night_money(run.steps.all())

    def has_run_night_permission(self, request) -> bool:
        return request.user.has_perm("billing.run_night")

    def has_rerun_permission(self, request) -> bool:
        return self.has_run_night_permission(request)

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "can_run_night": self.has_run_night_permission(request)})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        extra = {"dry_table": dry_run_table(run)} if run is not None and run.dry_run else {}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def get_urls(self):
        return [
            path("dry-run/", self.admin_site.admin_view(self.dry_run_view), name="billing_nightlyrun_dry_run"),
            path("run-tonight/", self.admin_site.admin_view(self.run_tonight_view), name="billing_nightlyrun_run_tonight"),
            *super().get_urls(),
        ]

    def dry_run_view(self, request):
        """WAL-7: what tonight would do, as of now, before anything is written."""
        deny_unless(request, "billing.run_night")
        try:
            run = night_module.run_nightly(dry_run=True)
        except Exception as exc:  # noqa: BLE001 (any failure is staff's to read, not a 500)
            self.message_user(request, gettext("The dry run stopped: %(error)s") % {"error": exc}, messages.ERROR)
            return HttpResponseRedirect(changelist_url(NightlyRun))
        context = {**self.admin_site.each_context(request), "opts": NightlyRun._meta, "run": run, "title": gettext("Dry run of the night of %(night)s") % {
            "night": run.night}, "table": dry_run_table(run), "run_tonight_url": reverse("admin:billing_nightlyrun_run_tonight")}
        return TemplateResponse(request, "admin/billing/nightlyrun/dry_run.html", context)

    def run_tonight_view(self, request):
        """Tonight's night, confirmed with what its dry run says it will charge and credit."""
        deny_unless(request, "billing.run_night")
        if confirmed(request):
            try:
                run = night_module.run_nightly()
            except Exception as exc:  # noqa: BLE001 (what is done stays done; the next run finishes the rest)
                self.message_user(request, gettext("The night stopped with an error: %(error)s. What was done stays done; run it again to finish.") % {
                    "error": exc}, messages.ERROR)
                failed = NightlyRun.objects.filter(dry_run=False, status=NightlyRun.Status.FAILED).order_by("-started_at", "-id").first()
                return HttpResponseRedirect(change_url(failed) if failed else changelist_url(NightlyRun))
            steps = list(run.steps.all())
            self.message_user(request, gettext("The night of %(night)s ran: charged %(charged)s, credited %(credited)s, collected from cards %(collected)s, "
                                               "%(failures)s failures.") % {"night": run.night, **night_money(steps)},
                              messages.ERROR if any(s.failures for s in steps) else messages.SUCCESS)
            return HttpResponseRedirect(change_url(run))
        try:
            dry = night_module.run_nightly(dry_run=True)
        except Exception as exc:  # noqa: BLE001
            self.message_user(request, gettext("The dry run stopped: %(error)s") % {"error": exc}, messages.ERROR)
            return HttpResponseRedirect(changelist_url(NightlyRun))
        return page(
            self, request, title=gettext("Run the night of %(night)s") % {"night": dry.night},
            question=gettext("Run tonight's billing now, for every client? As of now, its dry run says:"),
            rows=[*night_totals(dry.report.get("totals", {})),
                  gettext("Clients are emailed each renewal or package change charged and each failed collection (NTF-1)."),
                  gettext("A second run of the same night changes nothing: what is done stays done.")],
            submit=gettext("Yes, run tonight"), back=reverse("admin:billing_nightlyrun_dry_run"))

    @admin.action(description=_("Run the selected nights again (what is done stays done)…"), permissions=["rerun"])
    def rerun(self, request, queryset):
        runs = list(queryset.filter(dry_run=False))
        if not confirmed(request):
            return page(self, request, title=gettext("Run nights again"),
                        question=gettext("Run each of these nights again as of its time? Clients done stay done; only what was left is done, and charged."),
                        rows=[str(r) for r in runs] or [gettext("None of the selected runs is a real night.")], submit=gettext("Yes, run them again"),
                        back=changelist_url(NightlyRun), admin_action=self.rerun.__name__, ids=[r.pk for r in runs])
        done = 0
        for run in runs:
            try:
                night_module.run_nightly(at=run.at)
                done += 1
            except Exception as exc:  # noqa: BLE001
                self.message_user(request, gettext("%(run)s stopped again: %(error)s") % {"run": run, "error": exc}, messages.ERROR)
        if done:
            self.message_user(request, ngettext("Ran %(count)s night again.", "Ran %(count)s nights again.", done) % {"count": done}, messages.SUCCESS)
        return None
