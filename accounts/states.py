"""How the account's state follows from the restrictions that hold (ACC-3): pure, for the
services that write it and the selectors that show it."""

from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext_noop

from accounts.models import Client, Restriction

Kind = Restriction.Kind
Reason = Client.BlockReason
# Among blocks that end together, the one shown as the account's reason.
STRENGTH = [Reason.FREE_LIMIT, Reason.BILLING, Reason.FUNNEL_LOOP, Reason.ABUSE, Reason.STAFF]
# Blocks under which the client may not act in others' projects either (ACC-3).
PARTICIPATION_BLOCKS = frozenset({Reason.ABUSE, Reason.STAFF})


@dataclass(frozen=True)
class State:
    status: str
    block_reason: str = ""
    blocked_until: datetime | None = None


def derive_state(holding: list[Restriction], *, deleted: bool = False) -> State:
    """The account's state from the restrictions that hold (ACC-3)."""
    if deleted:
        return State(Client.Status.DELETED)
    blocks = [r for r in holding if r.kind == Kind.BLOCK]
    if blocks:
        # For good outlasts any end; among equal ends the stronger reason shows.
        shown = max(blocks, key=lambda r: (r.ends_at is None, r.ends_at or r.starts_at, STRENGTH.index(r.reason)))
        return State(Client.Status.BLOCKED, shown.reason, shown.ends_at)
    if any(r.kind == Kind.SUSPENSION for r in holding):
        return State(Client.Status.SUSPENDED)
    return State(Client.Status.ACTIVE)


class Act:
    """What a restricted client may be refused (ACC-3): the one list the API, the dashboard and
    the admin ask about through `accounts.selectors.refusal`."""

    CHANGE_PROJECTS = "change_projects"  # create or change projects, participants, subscribers
    CREATE_API_KEY = "create_api_key"
    FILE_COMPLAINT = "file_complaint"
    ACT_IN_OTHERS_PROJECTS = "act_in_others_projects"


# The sentences stay plain str (they travel in RuleRefused.detail and audit details): marked for
# extraction only, translated where they are shown (`core.admin.refusal`, `core.api.exception_handler`).
REFUSALS = {
    Act.CHANGE_PROJECTS: ("account_blocked", gettext_noop("Your account is blocked, so you cannot create or change projects, participants or subscribers. "
                                                          "Billing and your data stay reachable.")),
    Act.CREATE_API_KEY: ("account_blocked", gettext_noop("Your account is blocked, so no API key can be created. Billing and your data stay reachable.")),
    Act.FILE_COMPLAINT: ("account_blocked", gettext_noop("Your account is blocked, so you cannot file complaints. Write to support instead.")),
    Act.ACT_IN_OTHERS_PROJECTS: ("participation_suspended",
                                 gettext_noop("Your account is blocked, so your access to other clients' projects is suspended while the block holds.")),
}
