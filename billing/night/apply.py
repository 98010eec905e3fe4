"""Applying a step to a chunk of clients: the step's work and the clients' done-marks commit
together (`ClientNight`), so a second run of the night skips what the first did and a run killed
half-way finishes the rest. The work is written by the same functions a request would call with a
list of one (`subscriptions.renew`, `subscriptions.change_packages`, `dunning.collect_chunk`,
`projects.purge_expired_archives`), for the whole chunk in one transaction; if that fails the
chunk is logged and done again one client at a time, so one client's failure stops nobody else."""

import datetime
import logging

from django.db import transaction

from accounts.models import Client
from billing import dunning, subscriptions
from billing.models import ClientNight
from billing.night.plan import Night
from billing.policy import current_policy
from billing.subscriptions.renewals import Written
from core.batches import at_once_or_each
from core.bulk import insert_rows
from core.request_context import log_context
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


def process(step: str, client_ids: list[int], night: Night) -> dict:
    """One chunk of one step: the whole chunk at once; if that fails, each client alone. Every
    failure is logged and returned with its client (None for the chunk) for the night's record."""
    # Every log line of the chunk, inline or in a worker, names it (issue 17, item 6).
    with log_context(night=night.day.isoformat(), step=step, chunk=f"{client_ids[0]}-{client_ids[-1]} ({len(client_ids)})" if client_ids else None):
        if step == "dunning":
            return dunning.collect_chunk(client_ids, day=night.day, at=night.at)
        results, failures = at_once_or_each(lambda ids: apply(step, ids, night), client_ids, logger=logger, what=f"night of {night.day}, {step}")
    return {"done": sum(done for done, _, _ in results), "skipped": sum(skipped for _, skipped, _ in results),
            "charged": sum(w.charged_cents for _, _, w in results), "credited": sum(w.credited_cents for _, _, w in results), "failures": failures}
