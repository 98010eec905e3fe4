"""Retention (CMP-7): each app registers what it deletes once its window has passed; the night
calls `run_retention()` once, and what was deleted is recorded in the audit log."""

import datetime
from collections.abc import Callable

from compliance.audit_actions import Audit
from compliance.models import CookieConsent
from compliance.services import record

Purger = Callable[[datetime.datetime], int]
_purgers: dict[str, Purger] = {}


def register(name: str, purge: Purger) -> None:
    """`purge(now)` deletes what has outlived its window and returns how many rows went."""
    _purgers[name] = purge


def run_retention(*, now: datetime.datetime) -> dict[str, int]:
    deleted = {name: _purgers[name](now) for name in sorted(_purgers)}
    record(action=Audit.RETENTION_RUN, details={"deleted": deleted, "at": now.isoformat()})
    return deleted


def purge_cookie_consents(now: datetime.datetime) -> int:
    """Cookie answers are asked again after 13 months (the usual validity of a consent)."""

    return CookieConsent.objects.filter(updated_at__lt=now - datetime.timedelta(days=395)).delete()[0]
