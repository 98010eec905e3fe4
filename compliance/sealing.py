"""The audit log sealed day by day: a digest of each day's entries chained to the day before.
Sealing reads the log afterwards, so `record()` takes no lock (the night seals yesterday)."""

import datetime
import hashlib
import json
from dataclasses import dataclass

from django.db import transaction

from compliance.models import AuditLog, AuditSeal

GENESIS = "0" * 64


def _bounds(day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    start = datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC)
    return start, start + datetime.timedelta(days=1)


def _line(entry: AuditLog) -> str:
    # Every column of the entry, in one canonical form: any change to any of them changes the digest.
    return json.dumps(
        [entry.pk, entry.created_at.isoformat(), entry.actor_id, entry.actor_label, entry.action, entry.target_type, entry.target_id,
         entry.target_label, entry.client_id, entry.details, entry.ip],
        sort_keys=True, separators=(",", ":"), default=str,
    )


def day_digest(day: datetime.date, previous: str) -> tuple[int, str]:
    """(entries, digest) of one day's entries as they stand now."""
    start, end = _bounds(day)
    digest = hashlib.sha256(previous.encode())
    count = 0
    for entry in AuditLog.objects.filter(created_at__gte=start, created_at__lt=end).order_by("pk").iterator(chunk_size=2000):
        digest.update(_line(entry).encode())
        digest.update(b"\n")
        count += 1
    return count, digest.hexdigest()


def _current_seals():
    """The newest version of each day's seal, in day order."""
    newest: dict[datetime.date, AuditSeal] = {}
    for seal in AuditSeal.objects.order_by("day", "version"):
        newest[seal.day] = seal
    return [newest[day] for day in sorted(newest)]


@transaction.atomic
def seal_audit_log(*, through: datetime.date) -> int:
    """Seal every day not sealed yet up to `through` (included), in order. Returns how many."""
    last = AuditSeal.objects.order_by("-day", "-version").first()
    if last is not None:
        day, previous = last.day + datetime.timedelta(days=1), last.digest
    else:
        first = AuditLog.objects.order_by("created_at").values_list("created_at", flat=True).first()
        if first is None:
            return 0
        day, previous = first.astimezone(datetime.UTC).date(), GENESIS
    sealed = 0
    while day <= through:
        count, digest = day_digest(day, previous)
        AuditSeal.objects.create(day=day, entries=count, digest=digest, previous_digest=previous)
        previous, day, sealed = digest, day + datetime.timedelta(days=1), sealed + 1
    return sealed


def reseal_from(day: datetime.date, *, reason: str) -> int:
    """After a sanctioned redaction (an erasure, CMP-2): a new version of the seal of `day` and of
    every later sealed day, the chain carried on. The old versions stay, with the reason kept."""
    seals = [seal for seal in _current_seals() if seal.day >= day]
    earlier = AuditSeal.objects.filter(day__lt=day).order_by("-day", "-version").first()
    previous = earlier.digest if earlier else GENESIS
    for seal in seals:
        count, digest = day_digest(seal.day, previous)
        AuditSeal.objects.create(day=seal.day, version=seal.version + 1, entries=count, digest=digest, previous_digest=previous, reason=reason[:200])
        previous = digest
    return len(seals)


@dataclass(frozen=True)
class Tampered:
    day: datetime.date
    sealed_entries: int
    entries_now: int

    def __str__(self) -> str:
        change = "entries changed"
        if self.entries_now > self.sealed_entries:
            change = f"{self.entries_now - self.sealed_entries} entries added late"
        elif self.entries_now < self.sealed_entries:
            change = f"{self.sealed_entries - self.entries_now} entries removed"
        return f"{self.day}: {change} (sealed with {self.sealed_entries}, {self.entries_now} now)"


def verify_audit_log(*, since: datetime.date | None = None) -> list[Tampered]:
    """Every sealed day (its newest seal) whose entries no longer give its digest, or whose chain
    is broken."""
    bad = []
    previous = None
    for seal in _current_seals():
        if since is not None and seal.day < since:
            previous = seal.digest
            continue
        count, digest = day_digest(seal.day, seal.previous_digest)
        chained = previous is None or seal.previous_digest == previous
        if digest != seal.digest or count != seal.entries or not chained:
            bad.append(Tampered(seal.day, seal.entries, count))
        previous = seal.digest
    return bad
