"""Payments (CARD-3, CARD-4, PER-7, WAL-2): every gateway call as an attempt whose life is an
explicit state machine, each step committed before the next:

    created → sent → succeeded | failed | unknown;  unknown → succeeded | failed;  succeeded → booked

* The attempt is committed (`created`) with its idempotency key before anything is sent; it is
  marked `sent`, under a lease, before the gateway is called (a night chunk makes its attempts
  `sent` under its lease at once, committed before any call all the same: one that never
  reached the gateway is asked for, found missing, and fails); the outcome is recorded; then the
  money is booked to the wallet in a transaction of its own, which the action that asked for the
  money cannot roll back (a refused activation leaves its payment in the wallet, WAL-3).
* The gateway is never called inside an open transaction (`send` refuses to).
* Whoever works on an attempt holds its lease (`lease_owner` until `leased_until`), longer than a
  gateway call; reconciliation takes the lease before it decides, so the night and the beat can
  never both decide one attempt. A success the gateway reports wins over a "not received".
* One collection at a time per client (`collection_lock`): whoever charges a client's cards takes
  the client's lock, then re-reads what is owed and which card is live.
* After a definitive failure the next try is a new attempt with a new key (`try_number` + 1), so a
  new card can pay; an unknown outcome is asked of the gateway by its key, never charged anew.
"""

import contextlib
import datetime
import os
import queue
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Client
from billing.audit_actions import Audit
from billing.gateways import GatewayUnavailable, get_gateway
from billing.gateways.base import ChargeResult
from billing.invoicing import settle_many
from billing.ledger import locked_wallet_ids
from billing.models import Card, LedgerEntry, PaymentAttempt
from compliance.audit import audit_row, record_rows
from compliance.services import record
from core.bulk import insert_rows
from core.db import in_open_transaction
from core.exceptions import RuleRefused
from core.sql import update_rows

Status = PaymentAttempt.Status
LEASE = datetime.timedelta(minutes=10)  # longer than any one gateway call (their timeouts are seconds)
RECONCILE_AFTER = datetime.timedelta(minutes=5)  # the beat leaves younger attempts to the request that made them
LOCK_NAMESPACE = 0x636F6C  # "col": the collection locks' class of PostgreSQL advisory locks
LOCK_WAIT_SECONDS = 30.0
NOT_RECEIVED, NOT_SENT = "not_received", "not_sent"


class GatewayCalledInTransaction(RuntimeError):
    """A bug: a gateway call inside an open transaction could be rolled back after the money moved."""


def _refuse_inside_transaction() -> None:
    if in_open_transaction():
        raise GatewayCalledInTransaction("The payment gateway is never called inside an open transaction.")


def _new_owner() -> str:
    return f"{os.getpid()}:{uuid.uuid4().hex[:16]}"


def customer_ref(client_id: int) -> str:
    return f"client-{client_id}"


def live_card(client: Client, role: str = Card.Role.MAIN) -> Card | None:
    return Card.objects.filter(client=client, role=role, removed_at__isnull=True, verified_at__isnull=False).first()


# --- one collection at a time per client --------------------------------------------------------------

_process_locks: defaultdict[int, threading.RLock] = defaultdict(threading.RLock)


def take_collection_locks(client_ids: list[int], *, wait: float = LOCK_WAIT_SECONDS) -> list[int]:
    """Take the collection lock of each client that can be had within `wait` seconds; returns
    those taken. On PostgreSQL a session advisory lock, held outside any transaction and let go
    if the process dies; elsewhere (SQLite, one process) a lock in this process."""
    deadline = time.monotonic() + wait
    wanted, taken = sorted(set(client_ids)), []
    while True:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT id FROM unnest(%s::int[]) AS id WHERE pg_try_advisory_lock(%s, id)", [wanted, LOCK_NAMESPACE]
                )
                got = [row[0] for row in cursor.fetchall()]
        else:
            got = [c for c in wanted if _process_locks[c].acquire(blocking=False)]
        taken += got
        held = set(got)
        wanted = [c for c in wanted if c not in held]
        if not wanted or time.monotonic() >= deadline:
            return taken
        time.sleep(0.05)


def release_collection_locks(client_ids: list[int]) -> None:
    if not client_ids:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, id) FROM unnest(%s::int[]) AS id", [LOCK_NAMESPACE, sorted(set(client_ids))])
        return
    for client_id in set(client_ids):
        with contextlib.suppress(RuntimeError):
            _process_locks[client_id].release()


@contextlib.contextmanager
def collection_lock(client_id: int, *, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """DUN-1, CARD-4: one collection of one debt at a time per client. Re-read what is owed after
    taking it. Busy for longer than `wait` → 503 `payment_pending`."""
    if not take_collection_locks([client_id], wait=wait):
        raise RuleRefused("payment_pending", "Another payment of this account is under way; try again in a moment.", status=503)
    try:
        yield
    finally:
        release_collection_locks([client_id])


# --- the attempt's steps --------------------------------------------------------------------------------


def open_attempt(
    *, client: Client, card: Card | None, amount: int, purpose: str, key: str, kind: str = PaymentAttempt.Kind.CHARGE,
    books_as: str = LedgerEntry.Kind.CARD_PAYMENT, purpose_key: str = "", try_number: int = 1, refunds: PaymentAttempt | None = None,
) -> PaymentAttempt:
    """Record an attempt (`created`), committed before anything is sent. The same key with other
    parameters is refused (409 `idempotency_key_reused`) before any gateway call."""
    with transaction.atomic(durable=not in_open_transaction()):
        attempt, _ = PaymentAttempt.objects.get_or_create(
            idempotency_key=key,
            defaults={"client": client, "card": card, "kind": kind, "amount_cents": amount, "purpose": purpose[:200], "books_as": books_as,
                      "purpose_key": purpose_key[:200], "try_number": try_number, "gateway": card.gateway if card else "", "refunds": refunds},
        )
    if (attempt.client_id, attempt.card_id, attempt.amount_cents, attempt.kind) != (client.pk, card.pk if card else None, amount, kind):
        raise RuleRefused("idempotency_key_reused", "This idempotency key was used for another payment; nothing was charged.")
    return attempt


def _claim_for_sending(pks: list[int], owner: str, now: datetime.datetime) -> set[int]:
    """created (not leased, or leased by us when made), or sent/unknown whose lease lapsed → sent
    under our lease. Returns those claimed."""
    if not pks:
        return set()
    free = Q(leased_until__isnull=True) | Q(leased_until__lt=now)
    claimed = PaymentAttempt.objects.filter(pk__any_of=pks).filter(
        Q(status=Status.CREATED) & (free | Q(lease_owner=owner)) | Q(status__in=[Status.SENT, Status.UNKNOWN]) & free
    ).update(status=Status.SENT, lease_owner=owner, leased_until=now + LEASE, sent_at=now)
    if claimed in (0, len(set(pks))):
        return set(pks) if claimed else set()
    return set(PaymentAttempt.objects.filter(pk__any_of=pks, lease_owner=owner, status=Status.SENT, sent_at=now).values_list("pk", flat=True))


def new_lease() -> tuple[str, datetime.datetime, datetime.datetime]:
    """A lease for attempts made in bulk (a night chunk), taken as they are made, so that nothing
    can decide them between their making and their sending: (owner, until, taken at)."""
    now = timezone.now()
    return _new_owner(), now + LEASE, now


def _call(attempt: PaymentAttempt, card_token: str, gateway=None) -> ChargeResult | None:
    """One gateway call for an attempt we hold; None when no answer came (unknown)."""
    gateway = gateway or get_gateway()
    try:
        if attempt.kind == PaymentAttempt.Kind.REFUND:
            return gateway.refund(charge_reference=attempt.refunds.gateway_reference, amount_cents=attempt.amount_cents,
                                  idempotency_key=attempt.idempotency_key)
        return gateway.charge(card_token=card_token, amount_cents=attempt.amount_cents, idempotency_key=attempt.idempotency_key,
                              description=attempt.purpose, customer_ref=customer_ref(attempt.client_id))
    except GatewayUnavailable:
        return None


def _outcome(result: ChargeResult | None, now: datetime.datetime) -> dict:
    if result is None:
        return {"status": Status.UNKNOWN, "leased_until": now}
    return {"status": Status.SUCCEEDED if result.succeeded else Status.FAILED, "failure_code": result.failure_code[:60],
            "gateway_reference": result.reference[:120], "completed_at": now, "leased_until": now}


def _finish(pk: int, owner: str, result: ChargeResult | None) -> None:
    """Record the outcome of our call, if the attempt is still ours. If our lease lapsed and it was
    decided `not received` meanwhile, a success still wins: the money was taken."""
    now = timezone.now()
    values = _outcome(result, now)
    if PaymentAttempt.objects.filter(pk=pk, lease_owner=owner, status=Status.SENT).update(**values):
        return
    if result is not None and result.succeeded:
        PaymentAttempt.objects.filter(pk=pk, status=Status.FAILED, failure_code__in=[NOT_RECEIVED, NOT_SENT]).update(**values)


def send(attempt: PaymentAttempt) -> PaymentAttempt:
    """Send one attempt to the gateway, if it is ours to send (never decided, and not held by
    anyone else); returns it as it stands afterwards. An attempt held elsewhere is left alone."""
    _refuse_inside_transaction()
    owner, now = _new_owner(), timezone.now()
    if _claim_for_sending([attempt.pk], owner, now):
        attempt.refresh_from_db()
        card_token = attempt.card.token if attempt.card_id else ""
        _finish(attempt.pk, owner, _call(attempt, card_token))
    attempt.refresh_from_db()
    return attempt


class _Collectors:
    """The threads that make a night's gateway calls, up to BILLING_COLLECTION_CONCURRENCY in
    flight at once. They live until `stop_collectors()` (the end of the night, or of a worker's
    chunk) so that each opens the one database connection the gateway may use (the sandbox keeps
    its memory there) once, not once per chunk; nothing but the call happens in them."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()

    def _work(self) -> None:
        try:
            while (job := self.jobs.get()) is not None:
                attempt, gateway, answers = job
                try:
                    answers.put((attempt.pk, _call(attempt, attempt.card.token if attempt.card_id else "", gateway), None))
                except Exception as exc:  # noqa: BLE001 (raised again in the caller's thread)
                    answers.put((attempt.pk, None, exc))
        finally:
            connection.close()

    def calls(self, attempts: list[PaymentAttempt], gateway, concurrency: int) -> Iterator[tuple[int, ChargeResult | None]]:
        with self.lock:
            if len(self.threads) != concurrency:
                self.stop()
                self.threads = [threading.Thread(target=self._work, name=f"collect-{n}", daemon=True) for n in range(concurrency)]
                for thread in self.threads:
                    thread.start()
        answers: queue.SimpleQueue = queue.SimpleQueue()
        for attempt in attempts:
            self.jobs.put((attempt, gateway, answers))
        for _ in attempts:
            pk, result, error = answers.get()
            if error is not None:
                raise error
            yield pk, result

    def stop(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)
        for thread in self.threads:
            thread.join()
        self.threads = []


_collectors = _Collectors()


def stop_collectors() -> None:
    """Let the collection threads go, with their database connections (the end of a night)."""
    with _collectors.lock:
        _collectors.stop()


def _calls(attempts: list[PaymentAttempt], gateway) -> Iterator[tuple[int, ChargeResult | None]]:
    """The gateway calls of a chunk, each attempt its own key, answered as they come: one at a
    time, or by the collection threads."""
    concurrency = max(1, settings.BILLING_COLLECTION_CONCURRENCY) if connection.vendor != "sqlite" else 1
    if concurrency == 1 or len(attempts) < 2:
        for attempt in attempts:
            yield attempt.pk, _call(attempt, attempt.card.token if attempt.card_id else "", gateway)
        return
    yield from _collectors.calls(attempts, gateway, concurrency)


def send_many(attempts: list[PaymentAttempt], *, owner: str | None = None) -> dict[int, PaymentAttempt]:
    """`send` for a night chunk: one claim for all (`owner`: the lease they were made under), the
    lease renewed as the calls go on, the outcomes recorded together (those still ours). Works on
    the objects given (their cards loaded): returns them by id as they stand, those that were not
    ours, or stopped being ours, read again."""
    _refuse_inside_transaction()
    if not attempts:
        return {}
    owner, now = owner or _new_owner(), timezone.now()
    by_pk = {a.pk: a for a in attempts}
    # Made `sent` under our lease, not lapsed: ours already (the lease is the claim).
    leased = {a.pk for a in attempts if a.status == Status.SENT and a.lease_owner == owner and a.leased_until and a.leased_until > now}
    claimed = leased | _claim_for_sending([pk for pk in by_pk if pk not in leased], owner, now)
    ours = [a for a in attempts if a.pk in claimed]
    for attempt in ours:
        if attempt.pk not in leased:  # as the claim wrote them
            attempt.status, attempt.lease_owner, attempt.leased_until, attempt.sent_at = Status.SENT, owner, now + LEASE, now
    results: dict[int, ChargeResult | None] = {}
    renew_at = time.monotonic() + LEASE.total_seconds() / 2
    gateway = get_gateway()
    for pk, result in _calls(ours, gateway):
        results[pk] = result
        if time.monotonic() > renew_at:  # a slow gateway: keep the rest of the chunk ours
            PaymentAttempt.objects.filter(pk__any_of=[a.pk for a in ours if a.pk not in results], lease_owner=owner, status=Status.SENT).update(
                leased_until=timezone.now() + LEASE
            )
            renew_at = time.monotonic() + LEASE.total_seconds() / 2
    done = timezone.now()
    with transaction.atomic():
        still_ours = set(PaymentAttempt.objects.select_for_update().filter(pk__any_of=list(results), lease_owner=owner, status=Status.SENT)
                         .values_list("pk", flat=True))
        decided = [by_pk[pk] for pk in results if pk in still_ours]
        for attempt in decided:
            for name, value in _outcome(results[attempt.pk], done).items():
                setattr(attempt, name, value)
        update_rows(PaymentAttempt, decided, ["status", "failure_code", "gateway_reference", "completed_at", "leased_until"])
    for pk in set(results) - still_ours:
        _finish(pk, owner, results[pk])  # lost our lease: only a success is recorded over "not received"
    return by_pk | PaymentAttempt.objects.in_bulk([pk for pk in by_pk if pk not in still_ours])


class Taken(NamedTuple):
    """What booking reads of a succeeded attempt (the attempt's own field names)."""

    pk: int
    client_id: int
    card_id: int | None
    kind: str
    books_as: str
    purpose: str
    idempotency_key: str
    amount_cents: int


def _booking_description(attempt: PaymentAttempt | Taken, card: str) -> str:
    if attempt.books_as == LedgerEntry.Kind.VERIFICATION:
        return f"Card verification of {card}: $1.00 back to your wallet (WAL-4)"
    if attempt.books_as == LedgerEntry.Kind.TOP_UP:
        return f"Top-up from {card} (WAL-5)"
    if attempt.kind == PaymentAttempt.Kind.REFUND:
        return f"Refunded to {card}: {attempt.purpose} (WAL-3)"
    return f"Paid by {card}: {attempt.purpose} (WAL-2: what the wallet lacked)"


def _entry_row(wallet_id: int, attempt: Taken, card: str, actor: Client | None, at: datetime.datetime) -> dict:
    """The ledger entry that books an attempt's money (`card`: how its card is named)."""
    amount = -attempt.amount_cents if attempt.kind == PaymentAttempt.Kind.REFUND else attempt.amount_cents
    return {
        "wallet_id": wallet_id, "amount_cents": amount, "kind": attempt.books_as or LedgerEntry.Kind.CARD_PAYMENT,
        "description": _booking_description(attempt, card)[:300], "reference": f"payment:{attempt.pk}",
        "idempotency_key": f"payment:{attempt.idempotency_key}"[:160], "payment_id": attempt.pk,
        "actor_id": actor.pk if getattr(actor, "is_authenticated", False) else None, "created_at": at,
    }


def book(attempt: PaymentAttempt, *, actor: Client | None = None) -> LedgerEntry | None:
    """succeeded → booked, for one attempt (`book_many` of one): the money into the wallet's
    ledger, once, in a transaction of its own (WAL-1, PER-7), and the invoices it now covers
    marked paid. Returns the entry, or None when there is nothing (more) to book."""
    if not book_many([attempt.pk], actor=actor):
        return None
    return LedgerEntry.objects.filter(payment_id=attempt.pk).first()


def book_many(pks: list[int], *, actor: Client | None = None) -> list[Taken]:
    """succeeded → booked for many (a chunk, or a request's one): the wallets and attempts locked
    at once, the entries written in bulk (a key booked before is not written again), the covered
    invoices paid; its own transaction. Returns what it booked (as read before booking)."""
    if not pks:
        return []
    with transaction.atomic(durable=not in_open_transaction()):
        client_ids = list(PaymentAttempt.objects.filter(pk__any_of=pks, status=Status.SUCCEEDED).values_list("client_id", flat=True))
        wallets = locked_wallet_ids(client_ids)
        attempts = [Taken(*row) for row in PaymentAttempt.objects.select_for_update().filter(pk__any_of=pks, status=Status.SUCCEEDED)
                    .values_list(*Taken._fields)]
        cards = {pk: Card.label(brand, last4) for pk, brand, last4 in
                 Card.objects.filter(pk__any_of=sorted({a.card_id for a in attempts if a.card_id})).values_list("pk", "brand", "last4")}
        now = timezone.now()
        entries = [_entry_row(wallets[a.client_id], a, cards.get(a.card_id, "None"), actor, now) for a in attempts]
        done = set(LedgerEntry.objects.filter(idempotency_key__any_of=[e["idempotency_key"] for e in entries]).values_list("idempotency_key", flat=True))
        insert_rows(LedgerEntry, [e for e in entries if e["idempotency_key"] not in done])
        PaymentAttempt.objects.filter(pk__any_of=[a.pk for a in attempts]).update(status=Status.BOOKED, booked_at=now)
        settle_many(sorted({a.client_id for a in attempts}), now=now)
    return attempts


# --- a request's payment: the cards pay what the wallet lacks -------------------------------------------


def payment_pending() -> RuleRefused:
    return RuleRefused(
        "payment_pending",
        "The payment provider did not answer; nothing else was done. Try again in a moment: you will not be charged twice.",
        status=503, retry_after=int(RECONCILE_AFTER.total_seconds() // 10),
    )


def refuse_unless_paid(attempt: PaymentAttempt) -> None:
    if attempt.status in PaymentAttempt.UNSETTLED:
        raise payment_pending()
    if attempt.status == Status.FAILED:
        raise RuleRefused("payment_failed", f"The card was declined ({attempt.failure_code or 'no reason given'}); nothing was changed.")


def _latest_try(client: Client, purpose_key: str) -> PaymentAttempt | None:
    return PaymentAttempt.objects.filter(client=client, purpose_key=purpose_key).order_by("-try_number", "-id").first()


def attempt_for(*, client: Client, card: Card, amount: int, purpose: str, purpose_key: str, books_as: str = LedgerEntry.Kind.CARD_PAYMENT,
                kind: str = PaymentAttempt.Kind.CHARGE, refunds: PaymentAttempt | None = None) -> PaymentAttempt:
    """The attempt that pays for `purpose_key` now: the unsettled one if there is one (the same
    request again), else a new try with a new key (after a failure, or when more is needed)."""
    latest = _latest_try(client, purpose_key)
    if latest is not None and latest.status in PaymentAttempt.UNSETTLED:
        if (latest.card_id, latest.amount_cents) == (card.pk, amount):
            return latest  # resent with its key: the gateway answers its first outcome, or charges once
        try:
            latest = reconcile_attempt(attempt=latest)  # another amount or card: first learn what that one did
        except GatewayUnavailable:
            raise payment_pending() from None
        if latest.status in PaymentAttempt.UNSETTLED:
            raise payment_pending()
        if latest.status in PaymentAttempt.TAKEN:
            return latest
    number = 1 if latest is None else latest.try_number + 1
    key = purpose_key if number == 1 else f"{purpose_key}:try{number}"
    return open_attempt(client=client, card=card, amount=amount, purpose=purpose, key=key, kind=kind, books_as=books_as,
                        purpose_key=purpose_key, try_number=number, refunds=refunds)


def book_taken(client: Client) -> int:
    """Book every succeeded attempt of a client not booked yet (under its collection lock, before
    it is charged anything); returns the cents booked."""
    booked = book_many(list(PaymentAttempt.objects.filter(client=client, status=Status.SUCCEEDED).values_list("pk", flat=True)))
    return sum(a.amount_cents for a in booked)


def _charge_cards(*, client: Client, amount: int, purpose: str, purpose_key: str, books_as: str) -> PaymentAttempt:
    last = None
    for role, key in ((Card.Role.MAIN, purpose_key), (Card.Role.BACKUP, f"{purpose_key}:backup")):
        card = live_card(client, role)
        if card is None:
            continue
        last = attempt_for(client=client, card=card, amount=amount, purpose=purpose, purpose_key=key, books_as=books_as)
        if last.status not in PaymentAttempt.TAKEN:
            last = send(last)
        if last.status in PaymentAttempt.TAKEN:
            book(last)
            return last
        if last.status in PaymentAttempt.UNSETTLED:
            raise payment_pending()
    if last is None:
        raise RuleRefused("card_required", "Add and verify a payment card first.")
    refuse_unless_paid(last)
    return last


def pay_from_cards(*, client: Client, lacking: Callable[[], int], purpose: str, purpose_key: str,
                   books_as: str = LedgerEntry.Kind.CARD_PAYMENT) -> PaymentAttempt | None:
    """Charge the cards what `lacking()` says the wallet lacks (WAL-2): the main card, then the
    backup when the main one fails (CARD-4), under the client's collection lock, `lacking()` read
    after taking it and after every earlier payment was booked. The money is booked at once, in its
    own transaction. Returns the last attempt that paid, None when nothing was lacking. Refusals:
    `card_required`, `payment_failed`, `payment_pending` (503)."""
    paid = None
    with collection_lock(client.pk):
        for _ in range(3):  # an earlier payment found settled may still leave something lacking
            book_taken(client)
            amount = lacking()
            if amount <= 0:
                return paid
            paid = _charge_cards(client=client, amount=amount, purpose=purpose, purpose_key=purpose_key, books_as=books_as)
    return paid


# --- reconciliation ---------------------------------------------------------------------------------------


def reconcile_attempt(*, attempt: PaymentAttempt) -> PaymentAttempt:
    """Settle one attempt without charging: a succeeded one is booked; an unsettled one whose lease
    has lapsed is taken over and its key asked of the gateway (`find_charge`): found → its outcome;
    not found → failed (`not_received`); never sent → failed (`not_sent`). An attempt someone
    holds is left alone. Money that did arrive goes to the wallet: no payment without its entry."""
    attempt.refresh_from_db()
    if attempt.status == Status.SUCCEEDED:
        book(attempt)
    elif attempt.status in PaymentAttempt.UNSETTLED:
        owner, now = _new_owner(), timezone.now()
        held = Q(leased_until__isnull=False, leased_until__gte=now)
        if not PaymentAttempt.objects.filter(pk=attempt.pk, status__in=PaymentAttempt.UNSETTLED).exclude(held).update(
            lease_owner=owner, leased_until=now + LEASE
        ):
            attempt.refresh_from_db()
            return attempt
        attempt.refresh_from_db()
        if attempt.status == Status.CREATED:  # committed, never sent: the gateway never saw it
            PaymentAttempt.objects.filter(pk=attempt.pk, lease_owner=owner, status=Status.CREATED).update(
                status=Status.FAILED, failure_code=NOT_SENT, completed_at=now, leased_until=now)
        else:
            PaymentAttempt.objects.filter(pk=attempt.pk, lease_owner=owner).update(status=Status.SENT)
            try:
                found = get_gateway().find_charge(idempotency_key=attempt.idempotency_key)
            except GatewayUnavailable:
                PaymentAttempt.objects.filter(pk=attempt.pk, lease_owner=owner).update(status=Status.UNKNOWN, leased_until=timezone.now())
                raise
            _finish(attempt.pk, owner, found or ChargeResult(status="failed", failure_code=NOT_RECEIVED))
        attempt.refresh_from_db()
        if attempt.status == Status.SUCCEEDED and book(attempt):
            record(action=Audit.PAYMENT_RECONCILED, target=attempt, client=attempt.client, details={"amount_cents": attempt.amount_cents})
    attempt.refresh_from_db()
    return attempt


def reconcile(*, older_than: datetime.timedelta = RECONCILE_AFTER, now: datetime.datetime | None = None) -> list[int]:
    """The beat's and the night's reconciliation: book every succeeded attempt not booked yet, and
    settle every unsettled one older than `older_than` whose lease has lapsed, by its key. Stops at
    the first unreachable gateway (the next run goes on). Returns the clients whose money was
    booked (their dunning may lift)."""
    now = now or timezone.now()
    clients: set[int] = set()
    succeeded = list(PaymentAttempt.objects.filter(status=Status.SUCCEEDED).values_list("pk", flat=True))
    booked = book_many(succeeded)
    record_rows([audit_row(action=Audit.PAYMENT_RECONCILED, client_id=a.client_id, target_type=PaymentAttempt._meta.label_lower, target_id=a.pk,
                           target_label=PaymentAttempt.label(a.kind, a.amount_cents, Status.SUCCEEDED),
                           details={"amount_cents": a.amount_cents, "found": "taken, not booked"}) for a in booked])
    clients.update(a.client_id for a in booked)
    stale = (
        PaymentAttempt.objects.filter(status__in=PaymentAttempt.UNSETTLED, created_at__lt=now - older_than)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now)).exclude(kind=PaymentAttempt.Kind.REFUND).order_by("pk")
    )
    for attempt in stale.iterator():
        try:
            if reconcile_attempt(attempt=attempt).status == Status.BOOKED:
                clients.add(attempt.client_id)
        except GatewayUnavailable:
            break  # still unreachable: the next run tries again
    return sorted(clients)


def unsettled_clients(client_ids: list[int]) -> set[int]:
    """Clients with a charge whose outcome is not known yet: nothing more is collected from them
    until it is (one collection at a time)."""
    return set(
        PaymentAttempt.objects.filter(client_id__any_of=client_ids, status__in=PaymentAttempt.UNSETTLED)
        .exclude(kind=PaymentAttempt.Kind.REFUND).values_list("client_id", flat=True)
    )
