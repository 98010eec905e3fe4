"""A killed night closed by the next run (issue 17, item 5): its record would stay `running` for
ever, with the counts of the steps it had saved before it died (none of the step it died in). The
next run, holding the night's lock, finds it, recounts what it really did from the rows it wrote
(the done-marks it made, the ledger entries of its clients at its instant) and closes it as
`interrupted`; then it does the rest (a run finishes what an earlier one left)."""

import datetime
import logging

from django.conf import settings
from django.db.models import Q, Sum
from django.utils import timezone

from billing.models import ClientNight, LedgerEntry, NightlyRun, NightlyStep

logger = logging.getLogger("billing.night")
Kind = LedgerEntry.Kind


def stale_before(now: datetime.datetime | None = None) -> datetime.datetime:
    return (now or timezone.now()) - datetime.timedelta(seconds=settings.NIGHT_STALE_AFTER)


def _money(step: str, run: NightlyRun, client_ids: list[int], until: datetime.datetime) -> tuple[int, int]:
    """(charged, credited) cents that `run` wrote for these clients in `step`."""
    entries = LedgerEntry.objects.filter(wallet__client_id__any_of=client_ids)
    if step == "renewals":
        charged = entries.filter(kind__in=[Kind.FEE, Kind.SETUP_FEE], created_at=run.at, reference__startswith="renewal:")
        credited = entries.none()
    elif step == "packages":
        charged = entries.filter(kind=Kind.PACKAGE_CHANGE, created_at=run.at)
        credited = entries.filter(kind=Kind.UNUSED_CREDIT, created_at=run.at)
    elif step == "dunning":
        # Tonight's collections by their keys (debt:<client>:<night>[:backup]), and the late fees
        # the run charged while it ran.
        keys = Q()
        for client_id in client_ids:
            keys |= Q(payment__purpose_key__startswith=f"debt:{client_id}:{run.night}")
        charged_payments = entries.filter(keys, kind=Kind.CARD_PAYMENT) if client_ids else entries.none()
        late = LedgerEntry.objects.filter(kind=Kind.LATE_FEE, created_at__gte=run.started_at, created_at__lt=until)
        fees = -(late.aggregate(total=Sum("amount_cents"))["total"] or 0)
        return (charged_payments.aggregate(total=Sum("amount_cents"))["total"] or 0) + fees, 0
    else:
        return 0, 0
    return -(charged.aggregate(total=Sum("amount_cents"))["total"] or 0), credited.aggregate(total=Sum("amount_cents"))["total"] or 0


def recount(run: NightlyRun, *, until: datetime.datetime) -> dict[str, dict]:
    """What `run` did, step by step, from the marks it wrote between its start and `until` (runs
    of a night never overlap: they hold its lock) and the money they carry."""
    marks = ClientNight.objects.filter(night=run.night, done_at__gte=run.started_at, done_at__lt=until)
    by_step: dict[str, list[int]] = {}
    for step, client_id in marks.values_list("step", "client_id"):
        by_step.setdefault(step, []).append(client_id)
    counted = {}
    for step, client_ids in by_step.items():
        charged, credited = _money(step, run, client_ids, until)
        counted[step] = {"clients": len(client_ids), "charged_cents": charged, "credited_cents": credited}
    return counted


def close(run: NightlyRun, *, now: datetime.datetime | None = None) -> NightlyRun:
    """Close a killed run as interrupted, its steps' counts recounted from its rows."""
    now = now or timezone.now()
    counted = recount(run, until=now)
    steps = {s.name: s for s in run.steps.all()}
    for name, figures in counted.items():
        step = steps.get(name) or NightlyStep(run=run, name=name, started_at=run.started_at)
        step.clients, step.charged_cents, step.credited_cents = figures["clients"], figures["charged_cents"], figures["credited_cents"]
        step.finished_at = step.finished_at or run.heartbeat_at or now
        step.save()
        steps[name] = step
    run.status = NightlyRun.Status.INTERRUPTED
    run.finished_at = run.heartbeat_at or now
    run.error = (run.error + "\n" if run.error else "") + f"Interrupted (its process gone); closed and recounted by the run of {now:%Y-%m-%d %H:%M:%S} UTC."
    run.report = {"totals": {s.name: {"clients": s.clients, "skipped": s.skipped, "charged_cents": s.charged_cents,
                                      "credited_cents": s.credited_cents, "failures": len(s.failures)} for s in run.steps.all()},
                  "interrupted": True}
    run.save()
    logger.warning("night of %s: run %s was interrupted; closed with its true counts %s", run.night, run.pk, counted)
    return run


def close_interrupted(*, locked: bool, now: datetime.datetime | None = None) -> list[NightlyRun]:
    """Every `running` night whose holder is gone, closed as interrupted. `locked`: the caller
    holds the night's advisory lock, so any running record is a dead run's; without the lock
    (SQLite) only one whose sign of life is older than NIGHT_STALE_AFTER."""
    running = NightlyRun.objects.filter(status=NightlyRun.Status.RUNNING, dry_run=False)
    if not locked:
        running = running.filter(Q(heartbeat_at__lt=stale_before(now)) | Q(heartbeat_at__isnull=True, started_at__lt=stale_before(now)))
    return [close(run, now=now) for run in running.order_by("started_at")]
