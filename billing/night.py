"""The night (DESIGN.md "The night"): count → packages → renewals → dunning → retention.

Every step first *plans*, set-based, which clients need work and what (the same plans serve the
dry run and `GET /billing/upcoming/`), then *applies* each client's work in its own transaction,
marked done for that night in the same transaction (`ClientNight`). So a second run of a night
changes nothing, a run killed half-way finishes the rest, and one client's failure is recorded and
stops nobody else. Only one night runs at a time (a PostgreSQL advisory lock).

Charges at night are debits of the wallet (the fee is due either way, TAR-4); the dunning step
then collects whatever the wallet lacks from the cards (WAL-2, CARD-4, DUN-1), one key per client
and night, so a re-run never charges twice.
"""

import contextlib
import datetime
import logging
import traceback
from dataclasses import asdict, dataclass, field

from celery import current_app as celery_app
from celery import current_task, group, signature
from django.db import connection, transaction
from django.utils import timezone

from accounts import services as accounts
from accounts.models import Client
from billing import dunning, emails, invoicing, selectors
from billing.audit_actions import Audit
from billing.ledger import balances, locked_wallet
from billing.models import (
    Card,
    ClientNight,
    Invoice,
    InvoiceLine,
    LedgerEntry,
    NightlyRun,
    NightlyStep,
    Subscription,
    Wallet,
    period_bounds,
)
from billing.policy import current_policy, packages_needed
from billing.tariffs import end_pro
from compliance.retention import run_retention
from compliance.sealing import seal_audit_log
from compliance.services import audit_entry, record, record_many
from core.clock import billing_date
from core.money import dollars
from core.sql import update_rows
from projects import selectors as projects_selectors
from projects import services as projects
from projects.models import Project

logger = logging.getLogger(__name__)
FREE_LIMIT = 500  # TAR-1, TAR-5
DUNNING_DAYS = dunning.DUNNING_DAYS
CHUNK = 500
CHUNK_TIMEOUT = 3600  # seconds a step waits for its chunks on the workers
LOCK_KEY = 0x6E6967687421  # "night!"
STEPS = ["count", "packages", "renewals", "dunning", "retention"]


@dataclass
class Decision:
    """One thing the night does (or, in a dry run, would do) for one client."""

    client_id: int
    kind: str  # package_change, free_limit_block, renewal, end_pro, collect, purge_projects
    amount_cents: int = 0  # charged when positive, credited when negative
    detail: str = ""


@dataclass
class Night:
    day: datetime.date
    at: datetime.datetime
    counts: dict[int, int] = field(default_factory=dict)


# --- planning (no writes) -----------------------------------------------------------------------


def plan_packages(night: Night) -> list[Decision]:
    """TAR-5: Free clients over 500 active subscribers (not yet blocked for it); PER-6: PRO
    clients whose count needs another number of packages."""
    decisions = []
    over = [client_id for client_id, n in night.counts.items() if n > FREE_LIMIT]
    for client_id in Client.objects.filter(pk__in=over, tariff=Client.Tariff.FREE).exclude(
        status=Client.Status.BLOCKED, block_reason=Client.BlockReason.FREE_LIMIT
    ).values_list("pk", flat=True):
        decisions.append(Decision(client_id, "free_limit_block", detail=f"{night.counts[client_id]} active subscribers on Free"))
    current = Subscription.objects.filter(status=Subscription.Status.ACTIVE, period_end__gte=night.day)
    # Only the subscriptions whose count asks for another number of packages become objects.
    changing = [client_id for client_id, packages in current.values_list("client_id", "packages")
                if packages_needed(night.counts.get(client_id, 0)) != packages]
    for subscription in current.filter(client_id__in=changing):
        change = selectors.package_change(subscription=subscription, active_subscribers=night.counts.get(subscription.client_id, 0), night=night.day)
        if change is not None:
            decisions.append(Decision(subscription.client_id, "package_change", change.amount_cents, f"{change.change:+} packages: {change.formula}"))
    return decisions


def plan_renewals(night: Night) -> list[Decision]:
    """PER-3: every period that ended before this night is renewed, each missed one once, on its
    own anniversary; a DEA-3 deactivation ends PRO instead."""
    policy = current_policy()
    decisions = []
    for subscription in Subscription.objects.filter(status=Subscription.Status.ACTIVE, period_end__lt=night.day):
        index, end = subscription.period_index, subscription.period_end
        packages = packages_needed(night.counts.get(subscription.client_id, 0))
        while end < night.day:
            if subscription.ends_after is not None and subscription.ends_after <= end:
                decisions.append(Decision(subscription.client_id, "end_pro", detail=f"PRO ends after {end}"))
                break
            index += 1
            start, end = period_bounds(anchor=subscription.anchor_date, period=subscription.period, index=index)
            amount = packages * policy.package_cents(subscription.period)
            decisions.append(Decision(subscription.client_id, "renewal", amount, f"{subscription.period} {start}–{end}, {packages} packages"))
    return decisions


def plan_dunning(night: Night, pending: list[Decision] = ()) -> list[Decision]:
    """DUN-1: every client whose wallet is below zero (after the charges planned before) has its
    debt collected from its cards; a client whose debt is paid leaves dunning (DUN-4)."""
    now_balances = balances()
    for decision in pending:
        now_balances[decision.client_id] = now_balances.get(decision.client_id, 0) - decision.amount_cents
    in_dunning = set(Wallet.objects.filter(failed_collections__gt=0).values_list("client_id", flat=True))
    debts = {client_id: -balance for client_id, balance in now_balances.items() if balance < 0}
    failed_before = dict(Wallet.objects.filter(client_id__in=list(debts)).values_list("client_id", "failed_collections"))
    debt_since = dict(Wallet.objects.filter(client_id__in=list(debts), debt_since__isnull=False).values_list("client_id", "debt_since"))
    with_card = set(Card.objects.filter(client_id__in=list(debts), removed_at__isnull=True, verified_at__isnull=False).values_list("client_id", flat=True))
    decisions = []
    for client_id, debt in debts.items():
        # What a failed collection would do (DUN-2, DUN-3, DUN-5); without a card it fails for sure.
        since = debt_since.get(client_id, night.day)
        if (night.day - since).days >= DUNNING_DAYS:
            if_unpaid = "deactivate"
        else:
            if_unpaid = "suspend" if failed_before.get(client_id, 0) == 0 else "block"
        certain = "" if client_id in with_card else " (no card: it will fail)"
        decisions.append(Decision(client_id, "collect", debt, f"debt {dollars(debt)}; if unpaid: {if_unpaid}{certain}"))
    debtors = {d.client_id for d in decisions}
    decisions += [Decision(client_id, "settle", 0, "debt paid") for client_id in in_dunning - debtors]
    return decisions


def plan_retention(night: Night) -> list[Decision]:
    before = night.at - datetime.timedelta(days=current_policy().retention_days)
    expired = Project.objects.filter(status=Project.Status.ARCHIVED, deleted_at__isnull=True, archived_at__lt=before).exclude(
        owner__tariff=Client.Tariff.PRO
    )
    by_owner: dict[int, int] = {}
    for owner_id in expired.values_list("owner_id", flat=True):
        by_owner[owner_id] = by_owner.get(owner_id, 0) + 1
    return [Decision(owner_id, "purge_projects", 0, f"{n} archived projects past the retention window") for owner_id, n in by_owner.items()]


def plan(night: Night) -> dict[str, list[Decision]]:
    """The whole night's decisions as they stand now, for a dry run."""
    night.counts = projects_selectors.active_subscribers_by_owner()
    packages = plan_packages(night)
    renewals = plan_renewals(night)
    charges = [d for d in packages + renewals if d.kind in ("package_change", "renewal")]
    return {"packages": packages, "renewals": renewals, "dunning": plan_dunning(night, charges), "retention": plan_retention(night)}


# --- applying, one client at a time -------------------------------------------------------------------


def _once(client_id: int, night: Night, step: str, work) -> bool:
    """Run `work()` for a client and step of this night unless done before; the mark and the work
    commit together. Returns whether it ran."""
    with transaction.atomic():
        if ClientNight.objects.filter(client_id=client_id, night=night.day, step=step).exists():
            return False
        work()
        ClientNight.objects.create(client_id=client_id, night=night.day, step=step)
    return True


def apply_packages(client_id: int, night: Night) -> tuple[int, int]:
    client = Client.objects.get(pk=client_id)
    if client.tariff == Client.Tariff.FREE:
        if night.counts.get(client_id, 0) > FREE_LIMIT:
            accounts.block(client=client, reason=Client.BlockReason.FREE_LIMIT, note=f"{night.counts[client_id]} active subscribers on Free (TAR-5).")
            emails.enqueue_email(client_id, emails.FREE_LIMIT)
        return 0, 0
    wallet = locked_wallet(client)
    subscription = Subscription.objects.select_for_update().get(client=client)
    change = selectors.package_change(subscription=subscription, active_subscribers=night.counts.get(client_id, 0), night=night.day)
    if change is None:
        return 0, 0
    key = f"packages:{client_id}:{night.day}"
    noun = "added" if change.change > 0 else "removed"
    description = f"{abs(change.change)} package(s) {noun} for the rest of the period (PER-6): {change.formula}"
    if change.amount_cents > 0:
        invoicing.charge_fees(wallet, client=client, lines=[(description, change.amount_cents, LedgerEntry.Kind.PACKAGE_CHANGE)], reference=key, key=key,
                              now=night.at)
    else:
        invoicing.credit(wallet, client=client, amount=-change.amount_cents, kind=LedgerEntry.Kind.UNUSED_CREDIT, description=description,
                         reference=key, key=f"{key}:credit", corrects=subscription.period_invoice, now=night.at)
    subscription.packages = change.packages_after
    subscription.save(update_fields=["packages"])
    record(action=Audit.PACKAGES_CHANGED, target=subscription, client=client,
           details={"from": change.packages_before, "to": change.packages_after, "amount_cents": change.amount_cents})
    return max(0, change.amount_cents), max(0, -change.amount_cents)


def apply_renewals(client_id: int, night: Night) -> tuple[int, int]:
    client = Client.objects.get(pk=client_id)
    wallet = locked_wallet(client)
    subscription = Subscription.objects.select_for_update().get(client=client)
    policy = current_policy()
    charged = 0
    packages = packages_needed(night.counts.get(client_id, 0))
    while subscription.is_active and subscription.period_end < night.day:
        if subscription.ends_after is not None and subscription.ends_after <= subscription.period_end:
            end_pro(subscription=subscription, now=night.at)
            break
        index = subscription.period_index + 1
        start, end = period_bounds(anchor=subscription.anchor_date, period=subscription.period, index=index)
        price = policy.package_cents(subscription.period)  # a new period takes the price in force now (TAR-4)
        key = f"renewal:{client_id}:{subscription.activations}:{subscription.anchor_date}:{index}"
        line = invoicing.period_fee_line(subscription.period, packages, price, start, end)
        subscription.period_invoice = invoicing.charge_fees(
            wallet, client=client, lines=[(f"{line} (renewal, PER-3)", packages * price, LedgerEntry.Kind.FEE)], reference=key, key=key, now=night.at)
        subscription.period_index, subscription.period_start, subscription.period_end = index, start, end
        subscription.package_price_cents, subscription.packages = price, packages
        subscription.save()
        record(action=Audit.RENEWED, target=subscription, client=client, details={"period": subscription.period, "start": str(start), "packages": packages})
        charged += packages * price
    return charged, 0


def apply_retention(client_id: int, night: Night) -> tuple[int, int]:
    before = night.at - datetime.timedelta(days=current_policy().retention_days)
    projects.purge_expired_archives(owner=Client.objects.get(pk=client_id), before=before)
    return 0, 0


def _once_result(client_id: int, night: Night, step: str, work) -> tuple[int, int] | None:
    box = {}

    def run():
        box["result"] = work()

    return box.get("result", (0, 0)) if _once(client_id, night, step, run) else None


APPLY = {"packages": apply_packages, "renewals": apply_renewals, "retention": apply_retention}


def process(step: str, client_ids: list[int], night: Night) -> dict:
    """One chunk of one step: each client's work alone; failures recorded, the others go on. The
    chunk's invoices are numbered together at its end."""
    return _process(step, client_ids, night)


def renew_chunk(client_ids: list[int], night: Night) -> tuple[dict, list[int]]:
    """PER-3 for a chunk at once, set-based: one transaction, a few statements for all of its
    clients (wallets and subscriptions locked, invoices, lines, ledger entries, audit entries and
    done-marks written in bulk). Clients whose PRO ends tonight (DEA-3) are left to the one-by-one
    path, returned. If anything fails the whole chunk rolls back and goes one by one. Everything is
    dated at the night's instant (a night run again later is dated that night)."""
    now = night.at
    outcome = {"done": 0, "skipped": 0, "charged": 0, "credited": 0, "failures": []}
    with transaction.atomic():
        done_before = set(ClientNight.objects.filter(night=night.day, step="renewals", client_id__in=client_ids).values_list("client_id", flat=True))
        todo = [c for c in client_ids if c not in done_before]
        outcome["skipped"] = len(done_before)
        wallets = {w.client_id: w for w in Wallet.objects.select_for_update().filter(client_id__in=todo)}
        subscriptions = list(
            Subscription.objects.select_for_update(of=("self",)).select_related("client")
            .filter(client_id__in=todo, status=Subscription.Status.ACTIVE, period_end__lt=night.day, ends_after__isnull=True)
        )
        simple = [s for s in subscriptions if s.client_id in wallets]
        policy = current_policy()
        # WAL-6 without reading the invoices again: each client's invoices older than tonight's are
        # settled already (every credit settles them), so tonight's are paid exactly when the wallet
        # still covers them, oldest first, and open otherwise.
        available = balances([s.client_id for s in simple])
        invoices, fees, audit = [], [], []
        for subscription in simple:
            packages = packages_needed(night.counts.get(subscription.client_id, 0))
            price = policy.package_cents(subscription.period)
            while subscription.period_end < night.day:
                index = subscription.period_index + 1
                start, end = period_bounds(anchor=subscription.anchor_date, period=subscription.period, index=index)
                key = f"renewal:{subscription.client_id}:{subscription.activations}:{subscription.anchor_date}:{index}"
                line = f"{invoicing.period_fee_line(subscription.period, packages, price, start, end)} (renewal, PER-3)"
                invoice = invoicing.new_invoice(client=subscription.client, kind=Invoice.Kind.INVOICE, total=packages * price,
                                                reference=key, now=now, grace_days=policy.grace_days)
                available[subscription.client_id] = available.get(subscription.client_id, 0) - packages * price
                if available[subscription.client_id] >= 0:
                    invoice.status, invoice.paid_at = Invoice.Status.PAID, now
                invoices.append(invoice)
                fees.append((subscription, line, packages * price, key))
                subscription.period_index, subscription.period_start, subscription.period_end = index, start, end
                subscription.package_price_cents, subscription.packages = price, packages
                audit.append(audit_entry(action=Audit.RENEWED, target=subscription, client=subscription.client,
                                         details={"period": subscription.period, "start": str(start), "packages": packages}))
                outcome["charged"] += packages * price
        Invoice.objects.bulk_create(invoices)
        InvoiceLine.objects.bulk_create([InvoiceLine(invoice=inv, description=line[:300], amount_cents=fee) for inv, (_, line, fee, _) in zip(invoices, fees, strict=True)])
        LedgerEntry.objects.bulk_create([
            LedgerEntry(wallet=wallets[sub.client_id], amount_cents=-fee, kind=LedgerEntry.Kind.FEE, description=line[:300], reference=key,
                        idempotency_key=f"{key}:fee:0", invoice=inv, created_at=now)
            for inv, (sub, line, fee, key) in zip(invoices, fees, strict=True)
        ])
        for invoice, (subscription, *_) in zip(invoices, fees, strict=True):
            subscription.period_invoice = invoice  # the last one renewed is the current period's
        update_rows(Subscription, simple, ["period_index", "period_start", "period_end", "package_price_cents", "packages", "period_invoice"])
        record_many(audit)
        ClientNight.objects.bulk_create([ClientNight(client_id=s.client_id, night=night.day, step="renewals") for s in simple])
        invoicing.number_invoices(invoices)  # last: the sequence rows stay locked only until the commit
        outcome["done"] = len(simple)
    handled = {s.client_id for s in simple} | done_before
    return outcome, [c for c in client_ids if c not in handled]


def package_chunk(client_ids: list[int], night: Night) -> tuple[dict, list[int]]:
    """PER-6 for a chunk's PRO clients at once, set-based like `renew_chunk`; the Free clients
    (TAR-5 blocks) are returned for the one-by-one path. Dated at the night's instant."""
    now = night.at
    outcome = {"done": 0, "skipped": 0, "charged": 0, "credited": 0, "failures": []}
    with transaction.atomic():
        done_before = set(ClientNight.objects.filter(night=night.day, step="packages", client_id__in=client_ids).values_list("client_id", flat=True))
        todo = [c for c in client_ids if c not in done_before]
        outcome["skipped"] = len(done_before)
        wallets = {w.client_id: w for w in Wallet.objects.select_for_update().filter(client_id__in=todo)}
        subscriptions = list(
            Subscription.objects.select_for_update(of=("self",)).select_related("client")
            .filter(client_id__in=todo, client__tariff=Client.Tariff.PRO, status=Subscription.Status.ACTIVE, period_end__gte=night.day)
        )
        simple = [s for s in subscriptions if s.client_id in wallets]
        grace_days = current_policy().grace_days
        invoices, moves, audit, changed = [], [], [], []
        for subscription in simple:
            change = selectors.package_change(subscription=subscription, active_subscribers=night.counts.get(subscription.client_id, 0), night=night.day)
            if change is None:
                continue
            key = f"packages:{subscription.client_id}:{night.day}"
            noun = "added" if change.change > 0 else "removed"
            description = f"{abs(change.change)} package(s) {noun} for the rest of the period (PER-6): {change.formula}"[:300]
            charge = change.amount_cents > 0
            if change.amount_cents:
                client = subscription.client
                invoices.append(invoicing.new_invoice(
                    client=client, kind=Invoice.Kind.INVOICE if charge else Invoice.Kind.CREDIT_NOTE, total=change.amount_cents,
                    reference=key, now=now, grace_days=grace_days, corrects_id=None if charge else subscription.period_invoice_id,
                ))
                moves.append((subscription, description, change.amount_cents, f"{key}:fee:0" if charge else f"{key}:credit", key))
                outcome["charged" if charge else "credited"] += abs(change.amount_cents)
            audit.append(audit_entry(action=Audit.PACKAGES_CHANGED, target=subscription, client=subscription.client,
                                     details={"from": change.packages_before, "to": change.packages_after, "amount_cents": change.amount_cents}))
            subscription.packages = change.packages_after
            changed.append(subscription)
        Invoice.objects.bulk_create(invoices)
        InvoiceLine.objects.bulk_create([InvoiceLine(invoice=inv, description=d, amount_cents=a) for inv, (_, d, a, _, _) in zip(invoices, moves, strict=True)])
        LedgerEntry.objects.bulk_create([
            LedgerEntry(wallet=wallets[sub.client_id], amount_cents=-amount, invoice=inv, description=d, reference=ref, idempotency_key=ledger_key,
                        kind=LedgerEntry.Kind.PACKAGE_CHANGE if amount > 0 else LedgerEntry.Kind.UNUSED_CREDIT, created_at=now)
            for inv, (sub, d, amount, ledger_key, ref) in zip(invoices, moves, strict=True)
        ])
        update_rows(Subscription, changed, ["packages"])
        invoicing.settle_many([s.client_id for s in changed], now=now)
        record_many(audit)
        ClientNight.objects.bulk_create([ClientNight(client_id=s.client_id, night=night.day, step="packages") for s in simple])
        invoicing.number_invoices(invoices)  # last: the sequence rows stay locked only until the commit
        outcome["done"] = len(simple)
    handled = {s.client_id for s in simple} | done_before
    return outcome, [c for c in client_ids if c not in handled]


def _process(step: str, client_ids: list[int], night: Night) -> dict:
    done = skipped = charged = credited = 0
    failures = []
    if step == "dunning":
        return dunning.collect_chunk(client_ids, day=night.day, at=night.at)
    set_based = {"renewals": renew_chunk, "packages": package_chunk}.get(step)
    if set_based is not None:
        try:
            bulk, client_ids = set_based(client_ids, night)
            done, skipped, charged, credited = bulk["done"], bulk["skipped"], bulk["charged"], bulk["credited"]
        except Exception as exc:  # noqa: BLE001 (one by one instead: each client's failure on its own)
            chunk = f"{len(client_ids)} clients, {client_ids[0]}–{client_ids[-1]}" if client_ids else "empty"
            logger.exception("night of %s, %s: the set-based chunk (%s) failed; doing it one client at a time", night.day, step, chunk)
            failures.append({"client": None, "chunk": chunk, "error": f"set-based chunk failed, done one by one: {type(exc).__name__}: {exc}",
                             "trace": traceback.format_exc()[-2000:]})
    for client_id in client_ids:
        try:
            result = _once_result(client_id, night, step, lambda cid=client_id: APPLY[step](cid, night))
            if result is None:
                skipped += 1
                continue
            done += 1
            charged += result[0]
            credited += result[1]
        except Exception as exc:  # noqa: BLE001 (one client's failure must not stop the night)
            logger.exception("night of %s, %s: client %s failed", night.day, step, client_id)
            failures.append({"client": client_id, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-2000:]})
    return {"done": done, "skipped": skipped, "charged": charged, "credited": credited, "failures": failures}


# --- the run --------------------------------------------------------------------------------------------


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


def _run_step(run: NightlyRun, step: str, client_ids: list[int], night: Night, inline: bool) -> NightlyStep:
    record_step = NightlyStep.objects.create(run=run, name=step)
    chunks = [client_ids[i : i + CHUNK] for i in range(0, len(client_ids), CHUNK)]
    if chunks and _fan_out(inline):
        # The task by its name: the tasks module imports this one, not the other way round.
        chunk_tasks = (signature("billing.tasks.night_chunk", args=(step, chunk, night.day.isoformat(), night.at.isoformat(), night.counts))
                       for chunk in chunks)
        results = group(chunk_tasks).apply_async()
        outcomes = results.get(disable_sync_subtasks=False, timeout=CHUNK_TIMEOUT)
    else:
        outcomes = [process(step, chunk, night) for chunk in chunks]
    for outcome in outcomes:
        record_step.clients += outcome["done"]
        record_step.skipped += outcome["skipped"]
        record_step.charged_cents += outcome["charged"]
        record_step.credited_cents += outcome["credited"]
        record_step.failures += outcome["failures"]
    record_step.finished_at = timezone.now()
    record_step.save()
    return record_step


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
        run = NightlyRun.objects.create(night=night.day, at=at)
        try:
            # PER-7: what a killed run (or a lost answer) left taken but not booked reaches the
            # wallets, and unanswered attempts are asked of the gateway, before any debt is read.
            dunning.reconcile_payments()
            count_step = NightlyStep.objects.create(run=run, name="count")
            night.counts = projects_selectors.active_subscribers_by_owner()
            count_step.clients, count_step.finished_at = len(night.counts), timezone.now()
            count_step.save()
            for step, planner in (("packages", plan_packages), ("renewals", plan_renewals), ("dunning", plan_dunning), ("retention", plan_retention)):
                ids = sorted({d.client_id for d in planner(night)})
                _run_step(run, step, ids, night, inline)
            run_retention(now=at)  # CMP-7: what every app keeps for a window only
            seal_audit_log(through=at.astimezone(datetime.UTC).date() - datetime.timedelta(days=1))  # the days fully past
            run.status = NightlyRun.Status.DONE
        except BaseException:  # an error, or the process being interrupted: the next run finishes the rest
            run.status, run.error = NightlyRun.Status.FAILED, traceback.format_exc()[-4000:]
            raise
        finally:
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
        "collections": sorted(d.client_id for d in decisions["dunning"] if d.kind == "collect"),
        # Dunning as it would go if those collections fail (a card's answer is only known by charging it).
        "suspend_if_unpaid": sorted(d.client_id for d in decisions["dunning"] if "if unpaid: suspend" in d.detail),
        "block_if_unpaid": sorted(d.client_id for d in decisions["dunning"] if "if unpaid: block" in d.detail),
        "deactivate_if_unpaid": sorted(d.client_id for d in decisions["dunning"] if "if unpaid: deactivate" in d.detail),
        "settled": sorted(d.client_id for d in decisions["dunning"] if d.kind == "settle"),
    }
