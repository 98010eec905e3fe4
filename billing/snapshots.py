"""The daily business snapshot the night writes (issue 16) and the reads of the staff index.

Staff start the day from figures the night stored, not from queries over every client (CMP-5:
what staff read of billing comes from its records). `write_snapshot` is a fixed number of
set-based statements whatever the number of clients: at 100,000 clients the night stays fast.

MRR (TAR-3, TAR-4, PER-1): an active PRO subscription brings `packages × package_price_cents ÷
months of its period` a month (monthly 1, quarterly 3, yearly 12: a yearly client counts as a
twelfth of its price a month), rounded half up to the cent. Free clients bring nothing.

MRR movements of a month, as Lago, Baremetrics and Stripe show them, comparing each client's MRR
this month (its latest night) with last month's (`ClientMonthMrr`):

- new: 0 last month and never any MRR before;
- reactivation: 0 last month, but MRR in an earlier month;
- expansion: up (the increase);
- contraction: down but still above 0 (the decrease, as a positive amount);
- churn: down to 0 (last month's MRR, as a positive amount).

So MRR this month = MRR last month + new + reactivation + expansion − contraction − churn.
Sharp edge: a month in which no night ran has no rows; the month after it then compares with
nothing, and its payers read as new or reactivated.
"""

import datetime

from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from accounts.models import Client
from billing.models import PERIOD_MONTHS, ClientMonthMrr, DailySnapshot, NightlyRun, NightlyStep, PaymentAttempt, Subscription
from projects.models import Project, Subscriber

MOVEMENTS = ("new", "expansion", "contraction", "churn", "reactivation")


def month_of(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def previous_month(month: datetime.date) -> datetime.date:
    return (month - datetime.timedelta(days=1)).replace(day=1)


def _mrr_sql() -> str:
    """One subscription's monthly MRR in SQL (alias `s`), PERIOD_MONTHS spelled out: `(2 × packages
    × price + months) ÷ (2 × months)` is `packages × price ÷ months` rounded half up, in integers."""
    months = " ".join(f"WHEN '{period}' THEN {n}" for period, n in PERIOD_MONTHS.items())
    return (f"(2 * CAST(s.packages AS BIGINT) * s.package_price_cents + (CASE s.period {months} END)) "
            f"/ (2 * (CASE s.period {months} END))")


def _write_month_mrr(month: datetime.date) -> None:
    """This month's row of every client, in three statements, each touching only the rows that
    change (after the month's first night, a night's few package changes): (1) each active
    subscription whose MRR differs from its row (or has none) is upserted; (2) a row whose
    subscription is no longer active goes to 0; (3) last month's payers without a row this month
    get one of 0 (their churn). Anti-joins, not a conflict check per client."""
    quote = connection.ops.quote_name
    table = quote(ClientMonthMrr._meta.db_table)
    subscriptions = quote(Subscription._meta.db_table)
    this, last = connection.ops.adapt_datefield_value(month), connection.ops.adapt_datefield_value(previous_month(month))
    mrr = _mrr_sql()
    with connection.cursor() as cursor:
        # (The SELECT has a WHERE: SQLite reads `ON CONFLICT` after a bare FROM as a join's ON.)
        cursor.execute(
            f"INSERT INTO {table} (client_id, month, mrr_cents) "  # noqa: S608 (names from the models)
            f"SELECT s.client_id, %s, {mrr} FROM {subscriptions} s "
            f"LEFT JOIN {table} m ON m.client_id = s.client_id AND m.month = %s "
            f"WHERE s.status = %s AND (m.client_id IS NULL OR m.mrr_cents <> {mrr}) "
            f"ON CONFLICT (client_id, month) DO UPDATE SET mrr_cents = excluded.mrr_cents",
            [this, this, Subscription.Status.ACTIVE],
        )
    active = Subscription.objects.filter(client_id=OuterRef("client_id"), status=Subscription.Status.ACTIVE)
    ClientMonthMrr.objects.filter(~Exists(active), month=month, mrr_cents__gt=0).update(mrr_cents=0)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (client_id, month, mrr_cents) "  # noqa: S608 (names from the model)
            f"SELECT p.client_id, %s, 0 FROM {table} p WHERE p.month = %s AND p.mrr_cents > 0 "
            f"AND NOT EXISTS (SELECT 1 FROM {table} c WHERE c.client_id = p.client_id AND c.month = %s) "
            f"ON CONFLICT (client_id, month) DO NOTHING",
            [this, last, this],
        )


def month_movements(month: datetime.date) -> dict[str, int]:
    """The month's MRR, paying clients and movements (see the module's rules), in one aggregate
    over its rows joined (hash joins, not a lookup per client) with last month's and with the
    clients who paid before last month; amounts in cents, lost ones positive."""
    table = connection.ops.quote_name(ClientMonthMrr._meta.db_table)
    this, last = connection.ops.adapt_datefield_value(month), connection.ops.adapt_datefield_value(previous_month(month))
    cur, prev = "c.mrr_cents", "COALESCE(p.mrr_cents, 0)"

    def total(condition: str, amount: str) -> str:
        return f"COALESCE(SUM(CASE WHEN {condition} THEN {amount} ELSE 0 END), 0)"

    back = f"{prev} = 0 AND {cur} > 0"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COALESCE(SUM({cur}), 0), {total(f'{cur} > 0', '1')}, "  # noqa: S608 (names from the model)
            f"{total(f'{back} AND e.client_id IS NULL', cur)}, {total(f'{back} AND e.client_id IS NOT NULL', cur)}, "
            f"{total(f'{prev} > 0 AND {cur} > {prev}', f'{cur} - {prev}')}, "
            f"{total(f'{prev} > 0 AND {cur} > 0 AND {cur} < {prev}', f'{prev} - {cur}')}, "
            f"{total(f'{prev} > 0 AND {cur} = 0', prev)} "
            f"FROM {table} c LEFT JOIN {table} p ON p.client_id = c.client_id AND p.month = %s "
            f"LEFT JOIN (SELECT DISTINCT client_id FROM {table} WHERE month < %s AND mrr_cents > 0) e ON e.client_id = c.client_id "
            f"WHERE c.month = %s",
            [last, last, this],
        )
        row = cursor.fetchone()
    return dict(zip(("mrr", "paying", "new", "reactivation", "expansion", "contraction", "churn"), (int(v) for v in row), strict=True))


def _clients() -> tuple[dict[str, int], dict[str, int]]:
    """Clients (staff left out) by tariff (deleted accounts left out) and by state, one query."""
    by_tariff = {tariff: 0 for tariff in Client.Tariff.values}
    by_state = {state: 0 for state in Client.Status.values}
    for tariff, state, n in Client.objects.filter(is_staff=False).order_by().values("tariff", "status").annotate(n=Count("pk")).values_list("tariff", "status", "n"):
        by_state[state] = by_state.get(state, 0) + n
        if state != Client.Status.DELETED:
            by_tariff[tariff] = by_tariff.get(tariff, 0) + n
    return by_tariff, by_state


def _failed_collections(day: datetime.date) -> int:
    """Clients whose collection of that night (keys `debt:<client>:<day>`, main and backup card)
    failed and none of whose attempts of that night took the money (DUN-1, CARD-4)."""
    tonight = Q(purpose_key__startswith="debt:") & (Q(purpose_key__endswith=f":{day.isoformat()}") | Q(purpose_key__endswith=f":{day.isoformat()}:backup"))
    return (PaymentAttempt.objects.filter(tonight, kind=PaymentAttempt.Kind.CHARGE).order_by().values("client_id")
            .annotate(failed=Count("pk", filter=Q(status=PaymentAttempt.Status.FAILED)),
                      taken=Count("pk", filter=Q(status__in=PaymentAttempt.TAKEN)))
            .filter(failed__gt=0, taken=0).count())


def write_snapshot(*, day: datetime.date, at: datetime.datetime, run: NightlyRun | None = None, active_subscribers: int | None = None) -> DailySnapshot:
    """The night's figures of `day` (CMP-5), written once a day: a second run of the night
    rewrites the same row, its charges and credits summed over every real run of that night (a
    rerun only does what the first left). This month's MRR rows first (TAR/PER rules, module
    docstring), then the figures; a dozen statements whatever the number of clients.
    `active_subscribers`: the night's own count (TAR-1), so that a million subscribers are not
    counted twice a night; counted here when not given."""
    month = month_of(day)
    with transaction.atomic():
        _write_month_mrr(month)
        movements = month_movements(month)
        by_tariff, by_state = _clients()
        subscribers = active_subscribers if active_subscribers is not None else (
            Subscriber.objects.filter(status=Subscriber.Status.ACTIVE, project__deleted_at__isnull=True)
            .exclude(project__status=Project.Status.ARCHIVED).count())
        money = NightlyStep.objects.filter(run__night=day, run__dry_run=False).aggregate(
            charged=Coalesce(Sum("charged_cents"), Value(0)), credited=Coalesce(Sum("credited_cents"), Value(0)))
        if run is None:
            run = NightlyRun.objects.filter(night=day, dry_run=False).order_by("-started_at", "-id").first()
        snapshot, _ = DailySnapshot.objects.update_or_create(day=day, defaults={
            "taken_at": at, "run": run, "clients_by_tariff": by_tariff, "clients_by_state": by_state,
            "active_subscribers": subscribers, "pro_subscriptions": movements["paying"], "mrr_cents": movements["mrr"],
            **{f"{name}_mrr_cents": movements[name] for name in MOVEMENTS},
            "charged_cents": money["charged"], "credited_cents": money["credited"], "failed_collections": _failed_collections(day),
        })
    return snapshot


# --- selectors -----------------------------------------------------------------------------------------


def latest_snapshot() -> DailySnapshot | None:
    """The newest day's figures (CMP-5), or None before the first night."""
    return DailySnapshot.objects.select_related("run").order_by("-day").first()


def snapshots_since(day: datetime.date) -> QuerySet[DailySnapshot]:
    """Every day's figures from `day` on, oldest first (the index's 90-day charts)."""
    return DailySnapshot.objects.filter(day__gte=day).order_by("day")


def mrr_by_month(months: int, *, until: datetime.date | None = None) -> list[dict]:
    """MRR and its movements (module docstring) of the last `months` months up to `until`'s (default
    the newest snapshot's), oldest first: each month as its latest snapshot has it, one query. A
    month without a snapshot is left out."""
    if until is None:
        newest = DailySnapshot.objects.order_by("-day").values_list("day", flat=True).first()
        if newest is None:
            return []
        until = newest
    start = month_of(until)
    for _ in range(months - 1):
        start = previous_month(start)
    fields = ["day", "mrr_cents", "pro_subscriptions", *(f"{name}_mrr_cents" for name in MOVEMENTS)]
    latest: dict[datetime.date, dict] = {}
    for row in DailySnapshot.objects.filter(day__gte=start, day__lte=until).order_by("day").values(*fields):
        latest[month_of(row["day"])] = row  # the month's latest day wins
    return [{"month": month, "day": row["day"], "mrr_cents": row["mrr_cents"], "pro_subscriptions": row["pro_subscriptions"],
             **{name: row[f"{name}_mrr_cents"] for name in MOVEMENTS}} for month, row in sorted(latest.items())]
