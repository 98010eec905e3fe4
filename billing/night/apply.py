"""Applying a step to a chunk of clients: the step's work and the clients' done-marks commit
together (`ClientNight`), so a second run of the night skips what the first did and a run killed
half-way finishes the rest. The work is written by the same functions a request would call with a
list of one (`subscriptions.renew`, `subscriptions.change_packages`, `dunning.collect_chunk`,
`projects.purge_expired_archives`), for the whole chunk in one transaction; if that fails the
chunk is logged and done again one client at a time, so one client's failure stops nobody else."""

import datetime
import logging
import traceback

from django.db import transaction

from accounts.models import Client
from billing import dunning, subscriptions
from billing.models import ClientNight
from billing.night.plan import Night
from billing.policy import current_policy
from billing.subscriptions.renewals import Written
from core.bulk import insert_rows
from projects import services as projects

logger = logging.getLogger("billing.night")


def _packages(client_ids: list[int], night: Night) -> Written:
    return subscriptions.change_packages(client_ids, day=night.day, at=night.at, counts=night.counts)


def _renewals(client_ids: list[int], night: Night) -> Written:
    return subscriptions.renew(client_ids, day=night.day, at=night.at, counts=night.counts)


def _retention(client_ids: list[int], night: Night) -> Written:
    """DEA-2: archived projects past the retention window are deleted with their subscribers."""
    before = night.at - datetime.timedelta(days=current_policy().retention_days)
    for owner in Client.objects.filter(pk__in=client_ids):
        projects.purge_expired_archives(owner=owner, before=before)
    return Written()


WRITERS = {"packages": _packages, "renewals": _renewals, "retention": _retention}


def apply(step: str, client_ids: list[int], night: Night) -> tuple[int, int, Written]:
    """The step's work for those of these clients not done yet tonight, and their marks, in one
    transaction. Returns (done, skipped, what was written)."""
    with transaction.atomic():
        done_before = set(ClientNight.objects.filter(night=night.day, step=step, client_id__any_of=client_ids).values_list("client_id", flat=True))
        todo = [c for c in client_ids if c not in done_before]
        written = WRITERS[step](todo, night) if todo else Written()
        insert_rows(ClientNight, [{"client_id": c, "night": night.day, "step": step} for c in todo])
    return len(todo), len(done_before), written


def _failure(client_id: int | None, exc: Exception, **more) -> dict:
    return {"client": client_id, **more, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-2000:]}


def process(step: str, client_ids: list[int], night: Night) -> dict:
    """One chunk of one step: the whole chunk at once; if that fails, each client alone. Every
    failure is logged and returned with its client (None for the chunk) for the night's record."""
    if step == "dunning":
        return dunning.collect_chunk(client_ids, day=night.day, at=night.at)
    outcome = {"done": 0, "skipped": 0, "charged": 0, "credited": 0, "failures": []}

    def add(done: int, skipped: int, written: Written) -> None:
        outcome["done"] += done
        outcome["skipped"] += skipped
        outcome["charged"] += written.charged_cents
        outcome["credited"] += written.credited_cents

    try:
        add(*apply(step, client_ids, night))
        return outcome
    except Exception as exc:  # noqa: BLE001 (one by one instead: each client's failure on its own)
        chunk = f"{len(client_ids)} clients, {client_ids[0]}–{client_ids[-1]}" if client_ids else "empty"
        logger.exception("night of %s, %s: the chunk (%s) failed; doing it one client at a time", night.day, step, chunk)
        outcome["failures"].append(_failure(None, exc, chunk=chunk) | {"error": f"chunk failed, done one by one: {type(exc).__name__}: {exc}"})
    for client_id in client_ids:
        try:
            add(*apply(step, [client_id], night))
        except Exception as exc:  # noqa: BLE001 (one client's failure must not stop the night)
            logger.exception("night of %s, %s: client %s failed", night.day, step, client_id)
            outcome["failures"].append(_failure(client_id, exc))
    return outcome
