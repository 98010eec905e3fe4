"""The pop-up subscription form on a client's site (PRJ-3), held against abuse (issue 17, item 4).

Anyone who reads a client's page has its project's public key, so the form takes precautions a
signed-in client's API does not need:
- a person is known again by email or phone (`services.find_person`, the same rule as the API's
  add and the import, backed by the unique constraints): a second submission adds no one;
- a name alone is refused: it could not be told apart from the next, and reaches no one;
- a rate per project (`POPUP_PROJECT_RATE`), whatever addresses the callers come from;
- a honeypot field (`TRAP_FIELD`), hidden from people: filled in, the answer is the usual success
  and nothing is stored;
- every row it makes is marked `source=popup` with the time it was made (`created_at`), so staff
  can undo a flood (`remove_popup_flood`).
"""

import datetime
import logging
import math
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_noop

from accounts.services.counters import count
from compliance.services import record
from core.exceptions import RuleRefused
from core.throttling import parse_rate
from projects.audit_actions import Audit
from projects.models import Project, Subscriber
from projects.services import clean_person, find_person, takes_new_subscribers

log = logging.getLogger(__name__)

# The honeypot: the form's HTML carries an input of this name that people never see, e.g.
#   <input type="text" name="website" value="" tabindex="-1" autocomplete="off" aria-hidden="true"
#          style="position:absolute;left:-10000px">
# (off-screen rather than type=hidden, which scripts skip); scripts that fill every field fill it.
TRAP_FIELD = "website"
# How the form's consent is recorded; also how a re-subscription by the form is recognised.
CONSENT_SOURCE = "Pop-up form"
DELETE_BATCH = 2_000


def _project_wait(project: Project) -> int:
    """Count one submission against the project's rate; 0 when it may go ahead, else the seconds
    until the window ends. Fixed windows counted in the shared cache (atomic on Redis): at a window's
    edge up to twice the rate may pass, never more."""
    limit, seconds = parse_rate(settings.POPUP_PROJECT_RATE)
    now = timezone.now().timestamp()
    window = int(now // seconds)
    if count(f"popup-rate:{project.pk}:{window}", timeout=seconds + 1) <= limit:
        return 0
    return max(1, math.ceil((window + 1) * seconds - now))


@transaction.atomic
def subscribe_from_popup(*, project: Project, name: str = "", email: str = "", phone: str = "", consent: bool, page: str = "",
                         trap: str = "") -> Subscriber | None:
    """A person subscribes through the pop-up form on the client's site, consenting explicitly
    (PRJ-3), by email or phone. Someone already subscribed is left as they are (the answer is the
    same success: it tells nobody who is subscribed); someone who unsubscribed subscribes again,
    by their own act on the form (ToU 12.5). Past the project's rate: 429 `popup_rate_limited`,
    nothing stored. A filled honeypot (`trap`): None, nothing stored (issue 17, item 4)."""
    if trap:
        log.info("pop-up honeypot filled", extra={"project": project.pk})
        return None
    if consent is not True:
        raise ValidationError({"consent": ["Consent is required to subscribe."]})
    if not takes_new_subscribers(project):
        raise RuleRefused("project_not_accepting", "This project is not taking subscribers right now.")
    person = clean_person(name=name, email=email, phone=phone)
    if not person["email"] and not person["phone"]:
        raise ValidationError({"email": ["Give an email address or a phone number."]})
    if wait := _project_wait(project):
        raise RuleRefused("popup_rate_limited", gettext_noop("Too many subscriptions to this form just now; try again in %(seconds)s seconds."),
                          params={"seconds": wait}, status=429, retry_after=wait)
    now = timezone.now()
    consent_source = CONSENT_SOURCE + (f" on {page[:150]}" if page else "")
    existing = find_person(project, person)
    if existing is None:
        try:
            with transaction.atomic():
                return Subscriber.objects.create(
                    project=project, **person, source=Subscriber.Source.POPUP, consent_at=now,
                    consent_source=consent_source, subscribed_at=now,
                )
        except IntegrityError:  # the same person sent the form twice at once: the other one made the row
            return find_person(project, person)
    if existing.status == Subscriber.Status.UNSUBSCRIBED:
        existing.status = Subscriber.Status.ACTIVE
        existing.subscribed_at = existing.consent_at = now
        existing.unsubscribed_at = None
        existing.consent_source = consent_source
        existing.name = person["name"] or existing.name
        existing.save(update_fields=["status", "subscribed_at", "consent_at", "unsubscribed_at", "consent_source", "name"])
    return existing


# --- undoing a flood (staff) -----------------------------------------------------------------------


@dataclass(frozen=True)
class Flood:
    removed: int  # active pop-up subscribers made in the window: deleted
    unsubscribed: int  # people the form re-subscribed in the window: unsubscribed again


def _flood(project: Project, start: datetime.datetime, end: datetime.datetime):
    """(made by the form in the window, re-subscribed by the form in the window), both active.
    Rows from before `created_at` was kept count as made when they were subscribed."""
    active = Subscriber.objects.filter(project=project, status=Subscriber.Status.ACTIVE).alias(made=Coalesce("created_at", "subscribed_at"))
    made_here = Q(source=Subscriber.Source.POPUP, made__gte=start, made__lte=end)
    resubscribed = active.filter(consent_source__startswith=CONSENT_SOURCE, subscribed_at__gte=start, subscribed_at__lte=end).exclude(made_here)
    return active.filter(made_here), resubscribed


def _check_window(start, end) -> None:
    if start is None or end is None or end < start:
        raise ValidationError({"end": ["The end of the window must not be before its start."]})


def popup_flood(*, project: Project, start: datetime.datetime, end: datetime.datetime) -> Flood:
    """What `remove_popup_flood` would do, for its confirmation page."""
    _check_window(start, end)
    made, resubscribed = _flood(project, start, end)
    return Flood(removed=made.count(), unsubscribed=resubscribed.count())


@transaction.atomic
def remove_popup_flood(*, project: Project, start: datetime.datetime, end: datetime.datetime, actor, reason: str) -> Flood:
    """Staff undo a flood of the pop-up form (issue 17, item 4; CMP-5): the active subscribers the
    form made between `start` and `end` (both included) are deleted with what funnels and messages
    kept of them; those it re-subscribed then are unsubscribed again (their earlier leaving stands).
    Unsubscribed rows stay: they are no one's bill and keep a person's leaving on record. Written to
    the audit log with the window, the counts and the reason."""
    _check_window(start, end)
    if not (reason or "").strip():
        raise ValidationError({"reason": ["Say why these subscribers are removed."]})
    made, resubscribed = _flood(project, start, end)
    unsubscribed = resubscribed.update(status=Subscriber.Status.UNSUBSCRIBED, unsubscribed_at=timezone.now())
    removed = 0
    # In batches: a flood may be many thousands of rows, each with its cascade.
    while ids := list(made.values_list("pk", flat=True)[:DELETE_BATCH]):
        Subscriber.objects.filter(pk__in=ids).delete()
        removed += len(ids)
    record(
        action=Audit.POPUP_FLOOD_REMOVED, actor=actor, target=project, client=project.owner,
        details={"from": start.isoformat(), "to": end.isoformat(), "removed": removed, "unsubscribed": unsubscribed, "reason": reason.strip()},
    )
    return Flood(removed=removed, unsubscribed=unsubscribed)
