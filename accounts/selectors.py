from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import ApiKey, Client, Notice, Restriction
from accounts.states import PARTICIPATION_BLOCKS, REFUSALS, Act, State, derive_state
from core.exceptions import RuleRefused


def live_api_keys(*, client: Client) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(client=client, revoked_at__isnull=True).order_by("-created_at", "-id")


def live_api_key(*, client: Client, pk: int) -> ApiKey:
    """The client's own live key, or 404: another client's key is as good as absent."""
    return live_api_keys(client=client).get(pk=pk)


def holding_restrictions(client_ids: list[int], *, now: datetime) -> dict[int, list[Restriction]]:
    """The restrictions that hold at `now`, per client: one query."""
    by_client: dict[int, list[Restriction]] = {c: [] for c in client_ids}
    for restriction in Restriction.objects.filter(client_id__any_of=client_ids, lifted_at__isnull=True):
        if restriction.ends_at is None or restriction.ends_at > now:
            by_client[restriction.client_id].append(restriction)
    return by_client


def restrictions_of(client: Client, *, now: datetime | None = None) -> list[Restriction]:
    """What restricts the account now (ACC-3): blocks first, the one that ends last first, then the suspension: what `/me/`, the dashboard
    and the admin show."""
    holding = holding_restrictions([client.pk], now=now or timezone.now())[client.pk]
    return sorted(holding, key=lambda r: (r.kind != Restriction.Kind.BLOCK, r.ends_at is not None, -(r.ends_at or r.starts_at).timestamp()))


def blocked_for(reason: str, client_ids: list[int] | None = None) -> QuerySet[Client]:
    """The accounts holding an unlifted block for `reason` (ACC-3), whatever else restricts them."""
    blocks = Restriction.objects.filter(kind=Restriction.Kind.BLOCK, reason=reason, lifted_at__isnull=True)
    if client_ids is not None:
        blocks = blocks.filter(client_id__in=client_ids)
    return Client.objects.filter(pk__in=blocks.values("client_id"))


def current_state(client: Client, *, now: datetime | None = None) -> tuple[State, list[Restriction]]:
    """The account's state as it stands this instant, and what restricts it (ACC-3): exact even
    between a timed block's end and the task that lifts it. One query."""
    restrictions = restrictions_of(client, now=now)
    return derive_state(restrictions, deleted=client.status == Client.Status.DELETED), restrictions


def participation_blocked(client: Client, *, now: datetime | None = None) -> bool:
    """ACC-3: while an `abuse` or `staff` block holds, the client may not act in others' projects."""
    if client.status != Client.Status.BLOCKED:
        return False
    return any(r.kind == Restriction.Kind.BLOCK and r.reason in PARTICIPATION_BLOCKS for r in restrictions_of(client, now=now))


def refusal(client: Client, act: str, *, now: datetime | None = None) -> RuleRefused | None:
    """May this client do `act` now (ACC-3)? None when it may; else the refusal to raise, with the
    rule's code and sentence. The one answer for the API, the dashboard and the admin: any block
    refuses changes, new keys and complaints; only an `abuse` or `staff` block the client's acts in
    others' projects."""
    refused = participation_blocked(client, now=now) if act == Act.ACT_IN_OTHERS_PROJECTS else client.is_blocked(now)
    if not refused:
        return None
    code, detail = REFUSALS[act]
    return RuleRefused(code, detail, status=403)


def check_may(client: Client, act: str) -> None:
    if (refused := refusal(client, act)) is not None:
        raise refused


def notices_of(client: Client, *, limit: int = 20) -> list[Notice]:
    """What the client was told (NTF-1), newest first: the dashboard's list."""
    return list(Notice.objects.filter(client=client).order_by("-created_at", "-id")[:limit])
