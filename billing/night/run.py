"""Running a night: one at a time (an advisory lock), each step's clients planned then applied
in chunks, inline or fanned out to Celery workers, every count and failure on the night's record."""

import contextlib
import contextvars
import datetime
import logging
import queue
import threading
import traceback
from dataclasses import asdict

from celery import current_app as celery_app
from celery import current_task
from django.conf import settings
from django.db import connection
from django.utils import timezone

from billing import dunning, payments, snapshots
from billing.models import NightlyRun, NightlyStep
from billing.night.apply import process
from billing.night.fanout import beat, chunk_name, run_on_workers
from billing.night.plan import Decision, Night, dunning_clients, plan, plan_packages, plan_retention, renewing_clients
from billing.night.recount import close_interrupted
from compliance.retention import run_retention
from compliance.sealing import seal_audit_log
from core.clock import billing_date
from projects import selectors as projects_selectors

# Clients per chunk: per-chunk costs (statements, commits, the collection threads draining at its
# end) weigh at 500; at 2,000 a chunk stays a few MB and a few seconds (bench/README.md). Dunning
# holds a collection lock per client of its chunk, in PostgreSQL's shared lock table (6,400 slots
# by default, for every connection): 1,000 leaves room for several workers at once.
CHUNK = 2000
STEP_CHUNK = {"dunning": 1000}
LOCK_KEY = 0x6E6967687421  # "night!"
logger = logging.getLogger("billing.night")


@contextlib.contextmanager
def night_lock():
    """One night at a time: a session advisory lock on PostgreSQL (a second run waits, then finds
    everything done). Elsewhere (SQLite, one process) nothing to lock."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])


def _fan_out(inline: bool) -> bool:
    """Chunks go to Celery workers when a broker (and a result backend) is configured, unless we
    are a worker already (the beat's night runs inline in its worker) or asked to run inline."""
    in_worker = bool(current_task) and bool(current_task.request.id)  # the proxy is falsy outside a task
    return not (inline or in_worker or celery_app.conf.task_always_eager or not celery_app.conf.result_backend)


def _run_chunk(step: str, chunk: list[int], night: Night) -> dict:
    """A chunk in this process. Its clients' own failures come back in its outcome; should the
    chunk itself raise (the broker, a bug), that is its clients' failure on the record and the
    night goes on: a later run does them (issue 17)."""
    try:
        return process(step, chunk, night)
    except Exception as exc:  # noqa: BLE001 (one chunk's failure must not stop the night)
        logger.exception("night of %s, %s: chunk %s failed", night.day, step, chunk_name(chunk))
        return {"done": 0, "skipped": 0, "charged": 0, "credited": 0, "failures": [
            {"client": None, "chunk": chunk_name(chunk), "clients": chunk, "error": f"{type(exc).__name__}: {exc}"[:1000],
             "trace": traceback.format_exc()[-2000:]}]}


def _concurrency(chunks: int) -> int:
    """How many chunks this process applies at once (NIGHT_INLINE_CONCURRENCY): one on SQLite and
    inside a transaction (a test's), whose rows other connections could not see."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return 1
    return max(1, min(settings.NIGHT_INLINE_CONCURRENCY, chunks))


def _run_here(run: NightlyRun, step: str, chunks: list[list[int]], night: Night) -> list[dict]:
    """The chunks in this process, `_concurrency` at a time, each thread on its own connection
    (closed when it ends). Chunks are independent by design (disjoint clients, their done-marks
    with them; the invoice sequences are locked last and in order), as on several workers."""
    threads = _concurrency(len(chunks))
    if threads == 1:
        outcomes = []
        for chunk in chunks:
            outcomes.append(_run_chunk(step, chunk, night))
            beat(run)
        return outcomes
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for chunk in chunks:
        todo.put(chunk)
    answers: queue.SimpleQueue = queue.SimpleQueue()

    def work() -> None:
        try:
            while True:
                try:
                    chunk = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    answers.put((_run_chunk(step, chunk, night), None))
                except BaseException as exc:  # noqa: BLE001 (raised again in the night's thread)
                    answers.put((None, exc))
                    return
        finally:
            connection.close()

    workers = [threading.Thread(target=contextvars.copy_context().run, args=(work,), name=f"night-{step}-{n}", daemon=True) for n in range(threads)]
    for worker in workers:
        worker.start()
    outcomes = []
    try:
        for _ in chunks:
            outcome, error = answers.get()
            if error is not None:
                raise error
            outcomes.append(outcome)
            beat(run)
    finally:
        # Interrupted (a chunk's thread raised, or this one was stopped): the chunks not started
        # stay for the next run; those started finish, as a worker's do.
        with contextlib.suppress(queue.Empty):
            while True:
                todo.get_nowait()
        for worker in workers:
            worker.join()
    return outcomes


def _run_step(run: NightlyRun, step: str, client_ids: list[int], night: Night, inline: bool) -> NightlyStep:
    record_step = NightlyStep.objects.create(run=run, name=step)
    size = min(CHUNK, STEP_CHUNK.get(step, CHUNK))
    chunks = [client_ids[i : i + size] for i in range(0, len(client_ids), size)]
    if chunks and _fan_out(inline):
        outcomes, notes = run_on_workers(run, step, chunks, night, inline=lambda chunk: _run_chunk(step, chunk, night))
        record_step.failures += notes
    else:
        outcomes = _run_here(run, step, chunks, night)
    for outcome in outcomes:
        record_step.clients += outcome["done"]
        record_step.skipped += outcome["skipped"]
        record_step.charged_cents += outcome["charged"]
        record_step.credited_cents += outcome["credited"]
        record_step.failures += outcome["failures"]
    record_step.finished_at = timezone.now()
    record_step.save()
    beat(run)
    return record_step


def _phase(run: NightlyRun, name: str, work) -> None:
    """One of the night's closing phases (retention, the snapshot, the audit seal): its error is
    logged and kept on the run, and the phases after it still run (issue 17)."""
    try:
        work()
    except Exception as exc:  # noqa: BLE001 (retention's error must not keep the audit log unsealed)
        logger.exception("night of %s: %s failed", run.night, name)
        run.error += f"{name}: {type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}\n"
    beat(run)


def run_nightly(*, at: datetime.datetime | None = None, dry_run: bool = False, inline: bool = False) -> NightlyRun:
    """The night as of `at` (default now): the billing day of that instant. Safe to run twice."""
    at = at or timezone.now()
    night = Night(day=billing_date(at), at=at)
    if dry_run:
        decisions = plan(night)
        report = {step: [asdict(d) for d in items] for step, items in decisions.items()}
        report["totals"] = _totals(decisions)
        return NightlyRun.objects.create(night=night.day, at=at, dry_run=True, status=NightlyRun.Status.DONE, finished_at=timezone.now(), report=report)
    with night_lock():
        try:  # a killed night's record closed with its true counts (issue 17) ...
            close_interrupted(locked=connection.vendor == "postgresql")
        except Exception:  # ... but its recount's failure must not keep tonight from running
            logger.exception("closing the interrupted nights failed; tonight runs all the same")
        run = NightlyRun.objects.create(night=night.day, at=at, heartbeat_at=timezone.now())
        try:
            # PER-7: what a killed run (or a lost answer) left taken but not booked reaches the
            # wallets, and unanswered attempts are asked of the gateway, before any debt is read.
            dunning.reconcile_payments()
            count_step = NightlyStep.objects.create(run=run, name="count")
            night.counts = projects_selectors.active_subscribers_by_owner()
            count_step.clients, count_step.finished_at = len(night.counts), timezone.now()
            count_step.save()
            steps = (("packages", plan_packages), ("renewals", renewing_clients), ("dunning", dunning_clients), ("retention", plan_retention))
            for step, planner in steps:
                planned = planner(night)
                ids = planned if step in ("renewals", "dunning") else sorted({d.client_id for d in planned})
                _run_step(run, step, ids, night, inline)
            _phase(run, "retention", lambda: run_retention(now=at))  # CMP-7: what every app keeps for a window only
            # The staff index's figures of the day (issue 16).
            _phase(run, "snapshot", lambda: snapshots.write_snapshot(day=night.day, at=at, run=run, active_subscribers=sum(night.counts.values())))
            _phase(run, "audit seal", lambda: seal_audit_log(through=at.astimezone(datetime.UTC).date() - datetime.timedelta(days=1)))  # the days fully past
            run.status = NightlyRun.Status.FAILED if run.error else NightlyRun.Status.DONE
        except BaseException:  # an error, or the process being interrupted: the next run finishes the rest
            run.status, run.error = NightlyRun.Status.FAILED, traceback.format_exc()[-4000:]
            raise
        finally:
            payments.stop_collectors()
            run.finished_at = timezone.now()
            run.report = {"totals": {s.name: {"clients": s.clients, "skipped": s.skipped, "charged_cents": s.charged_cents,
                                              "credited_cents": s.credited_cents, "failures": len(s.failures)} for s in run.steps.all()}}
            run.save()
    return run


def _totals(decisions: dict[str, list[Decision]]) -> dict:
    charges = [d for items in decisions.values() for d in items if d.kind in ("package_change", "renewal") and d.amount_cents > 0]
    credits = [d for items in decisions.values() for d in items if d.kind == "package_change" and d.amount_cents < 0]
    return {
        "charged_cents": sum(d.amount_cents for d in charges),
        "credited_cents": -sum(d.amount_cents for d in credits),
        "collect_cents": sum(d.amount_cents for d in decisions["dunning"] if d.kind == "collect"),
        "free_limit_blocks": sorted(d.client_id for d in decisions["packages"] if d.kind == "free_limit_block"),
        "free_limit_lifts": sorted(d.client_id for d in decisions["packages"] if d.kind == "free_limit_lift"),
        "collections": sorted(d.client_id for d in decisions["dunning"] if d.kind == "collect"),
        # Dunning as it would go if those collections fail (a card's answer is only known by charging it).
        "suspend_if_unpaid": sorted(d.client_id for d in decisions["dunning"] if "if unpaid: suspend" in d.detail),
        "block_if_unpaid": sorted(d.client_id for d in decisions["dunning"] if "if unpaid: block" in d.detail),
        "deactivate_if_unpaid": sorted(d.client_id for d in decisions["dunning"] if "if unpaid: deactivate" in d.detail),
        "settled": sorted(d.client_id for d in decisions["dunning"] if d.kind == "settle"),
    }
