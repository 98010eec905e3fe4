"""The loop guard (PRJ-6, ToU 1.14, 3.22, 3.23): a subscriber's 11th entry into one block within
any 60 minutes is a loop. Then all of the funnel's blocks but the start block are deleted (the
audit log keeps them, so staff can restore them) and the owner's account is blocked for
`funnel_loop`: 1 day the first time, 7 days the second, for good the third. The check counts from
one index (`funnel_step_window`), never a scan of the step log."""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts import services as accounts
from accounts.models import Client, Restriction
from compliance.services import record
from projects.audit_actions import Audit
from projects.funnels.services import as_dict, spec_of
from projects.models import Funnel, FunnelStep

ENTRIES = 11
WINDOW = timedelta(minutes=60)
LADDER = (timedelta(days=1), timedelta(days=7), None)  # None: for good
# A subscriber's `/start` re-runs a funnel at most once in this time: ten in any 60 minutes at most,
# so that a stranger sending `/start` over and over cannot make a loop of an innocent funnel and
# block its owner; loops are what the funnel itself leads back to.
RESTART_AFTER = timedelta(minutes=6)


def is_loop(*, subscriber_id: int, funnel: Funnel, block: str, now: datetime) -> bool:
    """Whether the entry just recorded at `now` is the 11th (or later) into `block` within the
    last 60 minutes (an entry exactly 60 minutes old is out of the window), since the guard last
    stopped this funnel."""
    since = now - WINDOW
    if funnel.loop_stopped_at is not None and funnel.loop_stopped_at > since:
        since = funnel.loop_stopped_at
    entries = FunnelStep.objects.filter(
        subscriber_id=subscriber_id, funnel_id=funnel.pk, block=block, entered_at__gt=since, entered_at__lte=now,
    )
    return entries.count() >= ENTRIES


def restarted_too_soon(*, subscriber_id: int, funnel_id: int, now: datetime) -> bool:
    """Whether the subscriber's `/start` ran this funnel less than RESTART_AFTER ago."""
    return FunnelStep.objects.filter(
        subscriber_id=subscriber_id, funnel_id=funnel_id, via=FunnelStep.Via.START, entered_at__gt=now - RESTART_AFTER,
    ).exists()


def block_length(owner: Client) -> timedelta | None:
    """1 day, 7 days, then for good (None): by how many funnel_loop blocks the owner has had."""
    earlier = Restriction.objects.filter(client=owner, kind=Restriction.Kind.BLOCK, reason=Client.BlockReason.FUNNEL_LOOP).count()
    return LADDER[min(earlier, len(LADDER) - 1)]


@transaction.atomic
def stop_loop(*, funnel: Funnel, block: str, subscriber_id: int, now: datetime | None = None) -> bool:
    """Act on a loop. The funnel is locked first: of two subscribers looping at once only the
    first stops it, so one loop costs the owner one step of the ladder. Returns whether this call
    acted."""
    now = now or timezone.now()
    funnel = Funnel.objects.select_for_update().select_related("project__owner").get(pk=funnel.pk)
    removed = funnel.blocks.exclude(key=funnel.start)
    if not removed.exists():
        return False  # already stopped (by another subscriber's loop), or never more than its start
    owner = funnel.project.owner
    before = as_dict(spec_of(funnel))
    length = block_length(owner)
    until = now + length if length else None
    removed.delete()
    # The start block stays; its ways to the blocks that went go too, so the funnel stays valid.
    funnel.blocks.filter(key=funnel.start).update(buttons=[], next="", else_next="")
    funnel.loop_stopped_at = now
    funnel.save(update_fields=["loop_stopped_at"])
    record(
        action=Audit.FUNNEL_LOOP, target=funnel, client=owner,
        details={"funnel": before, "block": block, "subscriber": subscriber_id, "until": until.isoformat() if until else None},
    )
    accounts.block(client=owner, reason=Client.BlockReason.FUNNEL_LOOP, until=until, now=now,
                   note=f"Loop in funnel “{funnel.name}” at block “{block}” (PRJ-6).")
    return True
