"""Billing's emails to the client, sent after the change they tell of has committed."""

from django.conf import settings
from django.utils import timezone

from accounts import services as accounts
from accounts.models import Client
from billing.ledger import debt_cents, wallet_of
from core.money import dollars
from core.tasks import enqueue

FREE_LIMIT, SUSPENDED, BLOCKED, DEACTIVATED, PAID = "free_limit", "suspended", "blocked", "deactivated", "paid"

SUBJECTS = {
    FREE_LIMIT: "Your account is paused: more than 500 subscribers on Free",
    SUSPENDED: "We could not collect your payment: your projects are paused",
    BLOCKED: "Your account is blocked until the unpaid fees are paid",
    DEACTIVATED: "PRO has ended after 30 days unpaid",
    PAID: "Thank you: your payment arrived and everything runs again",
}


def enqueue_email(client_id: int, kind: str) -> None:
    enqueue_emails([client_id], kind)


def enqueue_emails(client_ids: list[int], kind: str) -> None:
    """One email of `kind` to each of these clients once the transaction commits: one task for
    one, one task for many (a night chunk's), sent one by one by the worker."""
    if len(client_ids) == 1:
        enqueue("billing.tasks.send_billing_email", client_ids[0], kind)
    elif client_ids:
        enqueue("billing.tasks.send_billing_emails", sorted(client_ids), kind)


def send_billing_email(*, client_id: int, kind: str) -> None:
    client = Client.objects.get(pk=client_id)
    debt = debt_cents(wallet_of(client))
    lines = {
        FREE_LIMIT: "Your projects passed 500 active subscribers, the Free limit. Activate PRO to go on (ToU 3.9).",
        SUSPENDED: f"We could not collect {dollars(debt)} from your card. Your projects are paused until it is paid (ToU 7.21).",
        BLOCKED: f"A second collection of {dollars(debt)} failed. Your account is blocked; billing stays open so you can pay (ToU 7.22).",
        DEACTIVATED: "Your fees stayed unpaid for 30 days: PRO has ended, your card was removed and the account is scheduled for deletion (ToU 11.18).",
        PAID: "Your payment arrived. Your projects run again.",
    }
    # One notice per kind a day at most: the night tells each state once, and a retried task
    # finds it told (NTF-1).
    accounts.notify(client=client, kind=f"billing_{kind}", event=f"billing:{kind}:{timezone.localdate()}", subject=SUBJECTS[kind],
                    lines=[lines[kind], f"Top up or change your card at {settings.SITE_URL}/billing/ ."])
