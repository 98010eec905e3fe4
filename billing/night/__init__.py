"""The night (DESIGN.md "The night"): count → packages → renewals → dunning → retention.

`plan` says what each step has to do (no writes), `apply` does it for a chunk of clients through
the same functions a request uses, `run` runs the whole night.

Every step first *plans*, set-based, which clients need work and what (the same plans serve the
dry run and `GET /billing/upcoming/`), then *applies* each client's work in its own transaction,
marked done for that night in the same transaction (`ClientNight`). So a second run of a night
changes nothing, a run killed half-way finishes the rest, and one client's failure is recorded and
stops nobody else. Only one night runs at a time (a PostgreSQL advisory lock).

Faults (issue 17, item 5): a chunk lost with its worker, failed there, or not taken by any worker
in time is run by the night itself (`fanout`); the broker down, every chunk is; a chunk or closing
phase that raises is recorded and the night goes on to retention and the audit seal. A killed
night's record is closed as `interrupted`, with the counts its rows show, by the next run
(`recount`), which does the rest.

Charges at night are debits of the wallet (the fee is due either way, TAR-4); the dunning step
then collects whatever the wallet lacks from the cards (WAL-2, CARD-4, DUN-1), one key per client
and night, so a re-run never charges twice.
"""

from billing.night.apply import process
from billing.night.plan import STEPS, Decision, Night
from billing.night.run import run_nightly

__all__ = ["STEPS", "Decision", "Night", "process", "run_nightly"]
