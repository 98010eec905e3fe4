"""Helpers of the night's tests: the clock at a night, subscribers in bulk, a PRO client whose card fails."""

import datetime

import time_machine
from django.utils import timezone

from accounts.models import Client
from billing import night as night_module
from billing import services
from billing.models import Invoice, NightlyRun
from core.clock import night_of
from projects.models import Subscriber
from tests.billing.conftest import verified
from tests.factories import make_client, make_project

D = datetime.date
FUNDED = 5000  # what `due_clients` tops up


def travel(day: D, hour: int = 9):
    return time_machine.travel(datetime.datetime(day.year, day.month, day.day, hour, tzinfo=datetime.UTC), tick=False)


def run_night(day: D, **kwargs) -> NightlyRun:
    with time_machine.travel(night_of(day), tick=False):
        return night_module.run_nightly(at=night_of(day), **kwargs)


def run_nights(first: D, last: D) -> None:
    day = first
    while day <= last:
        run_night(day)
        day += datetime.timedelta(days=1)


def subscribers(project, count: int, start: int = 0) -> None:
    now = timezone.now()
    Subscriber.objects.bulk_create([
        Subscriber(project=project, email=f"n{project.pk}-{n}@example.org", source="import", consent_at=now, consent_source="t", subscribed_at=now)
        for n in range(start, start + count)
    ])


def renewals(client) -> list[str]:
    return list(Invoice.objects.filter(client=client, reference__startswith="renewal:").order_by("sequence").values_list("lines__description", flat=True))


def due_clients(count: int, prefix: str = "due") -> list[Client]:
    """PRO clients with a verified card and $50 topped up, whose monthly period (01.05–01.06 2027)
    the night of 02.06 renews from the wallet."""
    clients = []
    for n in range(count):
        client = verified(f"{prefix}{n}@example.com")
        services.attach_card(client=client, token="tok_visa")
        with time_machine.travel(datetime.datetime(2027, 5, 1, 9, tzinfo=datetime.UTC), tick=False):
            services.top_up(client=client, amount_cents=FUNDED, idempotency_key="fund")
            services.activate_pro(client=client, period="monthly")
        clients.append(client)
    return clients


def failing_pro(email: str = "failing@example.com") -> Client:
    """PRO, paid from the wallet, with a card that verifies and then fails every charge."""
    client = verified(email)
    services.attach_card(client=client, token="tok_chargeCustomerFail")
    services.staff_credit(client=client, amount_cents=900, reason="first month", actor=make_client(email=f"staff-{email}"))
    with travel(D(2027, 6, 1)):
        services.activate_pro(client=client, period="monthly")  # 01.06–01.07, renewed the night of 02.07
    make_project(owner=client)
    return client
