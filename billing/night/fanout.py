"""A step's chunks on the Celery workers, waited for with a bound (issue 17, item 5).

A chunk is idempotent (its clients' work and done-marks commit together, `apply`), so whatever
does not come back in time is run by the night itself, and a late copy of it on a worker finds it
done: a chunk seen started and not back `NIGHT_CHUNK_LOST_AFTER` seconds later (its worker killed:
the broker would hand it out again only after its visibility timeout), a chunk that failed on its
worker (its time limit, a lost worker), and every chunk still waiting once none has moved for as
long (no worker left). The broker or the result store unreachable, the night runs the rest itself.
Each such chunk is logged and noted on the step's failures with its clients."""

import logging
import time
from collections.abc import Callable

from celery import group, signature, states
from django.conf import settings
from django.utils import timezone

from billing.models import NightlyRun
from core.outage import OUTAGE_ERRORS

logger = logging.getLogger("billing.night")
POLL_SECONDS = 0.25
HEARTBEAT_SECONDS = 30


def chunk_name(chunk: list[int]) -> str:
    return f"{len(chunk)} clients, {chunk[0]}–{chunk[-1]}" if chunk else "empty"


def beat(run: NightlyRun) -> None:
    """The run's sign of life: a night whose beat stops was killed (`recount.close_interrupted`)."""
    run.heartbeat_at = timezone.now()
    NightlyRun.objects.filter(pk=run.pk).update(heartbeat_at=run.heartbeat_at)


def _signature(step: str, chunk: list[int], night) -> signature:
    limit = settings.NIGHT_CHUNK_TIME_LIMIT
    options = {"time_limit": limit, "soft_time_limit": max(1, limit - max(5, limit // 10))}
    if settings.NIGHT_QUEUE:
        options["queue"] = settings.NIGHT_QUEUE
    # The task by its name: the tasks module imports this one, not the other way round. Each task
    # carries its own clients' counts, not the night's (a million entries at scale).
    return signature("billing.tasks.night_chunk", args=(step, chunk, night.day.isoformat(), night.at.isoformat(),
                                                        {c: night.counts[c] for c in chunk if c in night.counts}), options=options)


def run_on_workers(run: NightlyRun, step: str, chunks: list[list[int]], night, inline: Callable[[list[int]], dict]) -> tuple[list[dict], list[dict]]:
    """Every chunk's outcome, from the workers or, for those that did not come back, from
    `inline(chunk)`; and the notes for the step's failures, one per chunk the night ran itself."""
    outcomes: list[dict] = []
    notes: list[dict] = []

    def by_the_night(index: int, why: str) -> None:
        chunk = chunks[index]
        logger.warning("night of %s, %s: chunk %s (%s) %s; the night runs it itself", night.day, step, index, chunk_name(chunk), why)
        notes.append({"client": None, "chunk": chunk_name(chunk), "clients": chunk, "error": f"chunk {why}: run by the night itself"})
        outcomes.append(inline(chunk))

    try:
        results = group(_signature(step, chunk, night) for chunk in chunks).apply_async().results
    except OUTAGE_ERRORS as exc:
        for index in range(len(chunks)):
            by_the_night(index, f"not sent (broker unreachable: {type(exc).__name__})")
        return outcomes, notes
    lost_after = settings.NIGHT_CHUNK_LOST_AFTER
    pending = dict(enumerate(results))
    started: dict[int, float] = {}
    moved = last_beat = time.monotonic()
    while pending:
        now = time.monotonic()
        try:
            for index, result in list(pending.items()):
                state = result.state
                if state == states.SUCCESS:
                    outcomes.append(result.result)
                    del pending[index]
                    moved = now
                elif state in states.PROPAGATE_STATES:  # failed on its worker: its time limit, its worker lost
                    del pending[index]
                    moved = now
                    by_the_night(index, f"failed on its worker ({state}: {str(result.result)[:200]})")
                elif state == states.STARTED and index not in started:
                    started[index] = moved = now
                elif index in started and now - started[index] > lost_after:
                    del pending[index]
                    by_the_night(index, f"started on a worker and not back after {lost_after} s (its worker lost)")
        except OUTAGE_ERRORS as exc:  # the result store (Redis) gone: what is left, the night does
            for index in sorted(pending):
                by_the_night(index, f"unanswered (result store unreachable: {type(exc).__name__})")
            break
        if pending and now - moved > lost_after:
            for index in sorted(i for i in pending if i not in started):
                del pending[index]
                by_the_night(index, f"not started by any worker in {lost_after} s")
            moved = time.monotonic()
        if now - last_beat > HEARTBEAT_SECONDS:
            beat(run)
            last_beat = now
        if pending:
            time.sleep(POLL_SECONDS)
    for result in results:
        try:
            result.forget()  # read once: no need to keep it for a day
        except OUTAGE_ERRORS:
            break
    return outcomes, notes
