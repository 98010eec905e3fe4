"""What billing tells the client (NTF-1): every notice's words in one place, written in the
client's language (lazy texts that `accounts.notify` renders under it), mailed after the change
they tell of has committed."""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.functional import lazy
from django.utils.text import format_lazy
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts import services as accounts
from accounts.models import Client, Notice
from billing.ledger import debt_cents, wallet_of
from billing.models import Invoice, Period, PolicySettings, Subscription
from core.money import local_dollars
from core.tasks import enqueue

FREE_LIMIT, SUSPENDED, BLOCKED, DEACTIVATED, PAID = "free_limit", "suspended", "blocked", "deactivated", "paid"

SUBJECTS = {
    FREE_LIMIT: _("Your account is paused: more than 500 subscribers on Free"),
    SUSPENDED: _("We could not collect your payment: your projects are paused"),
    BLOCKED: _("Your account is blocked until the unpaid fees are paid"),
    DEACTIVATED: _("PRO has ended after 30 days unpaid"),
    PAID: _("Thank you: your payment arrived and everything runs again"),
}


NOTICE_KINDS = {
    FREE_LIMIT: Notice.Kind.BILLING_FREE_LIMIT, SUSPENDED: Notice.Kind.BILLING_SUSPENDED, BLOCKED: Notice.Kind.BILLING_BLOCKED,
    DEACTIVATED: Notice.Kind.BILLING_DEACTIVATED, PAID: Notice.Kind.BILLING_PAID,
}


def _day(day: datetime.date) -> str:
    return date_format(day, "DATE_FORMAT")


# Rendered when the notice is written, in the client's language.
day_text = lazy(_day, str)
money_text = lazy(local_dollars, str)


def _billing_link():
    return format_lazy(_("Your billing page: {url}"), url=f"{settings.SITE_URL}{reverse('dashboard:billing')}")


def _packages_text(count: int) -> str:
    return ngettext("{count} package of 1,000 subscribers", "{count} packages of 1,000 subscribers", count).format(count=count)


_packages = lazy(_packages_text, str)


# --- dunning (DUN-1..5), by kind ---------------------------------------------------------------------


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
    debt = money_text(debt_cents(wallet_of(client)))
    lines = {
        FREE_LIMIT: _("Your projects passed 500 active subscribers, the Free limit. Activate PRO to go on (ToU 3.9)."),
        SUSPENDED: format_lazy(_("We could not collect {amount} from your card. Your projects are paused until it is paid (ToU 7.21)."), amount=debt),
        BLOCKED: format_lazy(_("A second collection of {amount} failed. Your account is blocked; billing stays open so you can pay (ToU 7.22)."), amount=debt),
        DEACTIVATED: _("Your fees stayed unpaid for 30 days: PRO has ended, your card was removed and the account is scheduled for deletion (ToU 11.18)."),
        PAID: _("Your payment arrived. Your projects run again."),
    }
    # One notice per kind a day at most: the night tells each state once, and a retried task
    # finds it told (NTF-1).
    accounts.notify(client=client, kind=NOTICE_KINDS[kind], event=f"billing:{kind}:{timezone.localdate()}", subject=SUBJECTS[kind],
                    lines=[lines[kind], _("Top up or change your card on your billing page."), _billing_link()])


# --- cards, PRO and its periods ----------------------------------------------------------------------


def tell_card_verified(*, client: Client, card_pk: int, label: str, backup: bool) -> None:
    line = _("{card} is saved as your backup card.") if backup else _("{card} is saved as your main card.")
    accounts.notify(client=client, kind=Notice.Kind.CARD_VERIFIED, event=f"card:{card_pk}", subject=_("Your card is verified"),
                    lines=[format_lazy(line, card=label), _("We charged $1.00 to verify it and put that dollar in your wallet (WAL-4).")])


def tell_pro_activated(*, client: Client, subscription_pk: int, number: int, packages: int, period: str, start, end, total_cents: int) -> None:
    accounts.notify(client=client, kind=Notice.Kind.PRO_ACTIVATED, event=f"pro:{subscription_pk}:{number}", subject=_("PRO is active"),
                    lines=[format_lazy(_("PRO is active: {packages}, {period}, {start} to {end}."), packages=_packages(packages),
                                       period=Period(period).label, start=day_text(start), end=day_text(end)),
                           format_lazy(_("We charged {amount}; the invoice is on your billing page."), amount=money_text(total_cents)),
                           _billing_link()])


def tell_period_decided(*, client: Client, request_pk: int, approved: bool, period: str, note: str) -> None:
    if approved:
        subject, line = _("Your period change is approved"), _("Your subscription is {period} from today.")
    else:
        subject, line = _("Your period change was not approved"), _("Your subscription stays {period}.")
    lines = [format_lazy(line, period=Period(period).label)] + ([format_lazy(_("Staff's note: {note}"), note=note)] if note else [])
    accounts.notify(client=client, kind=Notice.Kind.PERIOD_DECIDED, event=f"period-request:{request_pk}", subject=subject, lines=lines)


def tell_deactivation(*, client: Client, subscription_pk: int, activations: int, ends_after=None, credit_cents: int = 0) -> None:
    """DEA-1/002: what ends and when, confirmed."""
    if ends_after is not None:
        subject = format_lazy(_("PRO ends after {day}"), day=day_text(ends_after))
        lines = [format_lazy(_("You deactivated PRO. It runs until {day} with its packages and your projects; then you are on Free and your "
                               "projects are archived, to be deleted after the retention window unless you activate PRO again."), day=day_text(ends_after))]
    else:
        subject = _("PRO has ended")
        lines = [format_lazy(_("You deactivated PRO today; {amount}, the unused part of the period, is in your wallet. Your projects are archived "
                               "and are deleted after the retention window unless you activate PRO again."), amount=money_text(credit_cents))]
    accounts.notify(client=client, kind=Notice.Kind.DEACTIVATION_CONFIRMED, event=f"deactivation:{subscription_pk}:{activations}", subject=subject, lines=lines)


# --- the night's charges, many at once ----------------------------------------------------------------


@dataclass(slots=True)
class Renewal:
    """A period renewed tonight (PER-3), as its notice tells it."""

    client_id: int
    language: str
    invoice: dict  # the invoice row, numbered
    period: str
    packages: int
    start: datetime.date
    end: datetime.date


class Words:
    """A batch's texts in one language, each translated and formatted once: a night chunk tells
    thousands of clients, most of them the same days, amounts and package counts. Used inside
    `translation.override` of that language (`in_languages`)."""

    def __init__(self):
        self._days, self._money, self._packages = {}, {}, {}
        self.invoice_link = gettext("The invoice: {url}")
        self.invoice_url = f"{settings.SITE_URL}{reverse('dashboard:billing-invoice-pdf', args=['NUMBER'])}"
        self.paid = gettext("{amount} was paid from your wallet.")
        self.due = gettext("Your wallet did not cover {amount}: it is due by {day}, and we collect it from your card (DUN-1).")
        self.periods = {value: str(label) for value, label in Period.choices}
        self.renewed = gettext("PRO renewed: invoice {number}")
        self.renews = gettext("PRO renews for {start} to {end}, {period}: {packages}.")

    def day(self, day: datetime.date) -> str:
        if day not in self._days:
            self._days[day] = _day(day)
        return self._days[day]

    def money(self, cents: int) -> str:
        if cents not in self._money:
            self._money[cents] = local_dollars(cents)
        return self._money[cents]

    def packages(self, count: int) -> str:
        if count not in self._packages:
            self._packages[count] = _packages_text(count)
        return self._packages[count]

    def link(self, number: str) -> str:
        return self.invoice_link.format(url=self.invoice_url.replace("NUMBER", number))

    def charge(self, invoice: dict) -> list[str]:
        """Paid from the wallet, or due and collected from the card; the invoice's link."""
        if invoice["status"] == Invoice.Status.PAID:
            paid = self.paid.format(amount=self.money(invoice["total_cents"]))
        else:
            paid = self.due.format(amount=self.money(invoice["total_cents"]), day=self.day(timezone.localdate(invoice["due_at"])))
        return [paid, self.link(invoice["number"])]


def in_languages(items: list, write) -> list:
    """`write(item, words)` for each item, in its client's language (`item.language`), grouped so
    that each language is switched to once."""
    by_language: dict[str, list] = {}
    for item in items:
        by_language.setdefault(item.language or settings.LANGUAGE_CODE, []).append(item)
    written = []
    for language, group in by_language.items():
        with translation.override(language):
            words = Words()
            written.extend(write(item, words) for item in group)
    return written


def tell_renewals(renewals: list[Renewal]) -> None:
    """Each renewal's notice with its invoice (NTF-1), for a night chunk in one insert."""
    def write(r: Renewal, words: Words):
        number = r.invoice["number"]
        return accounts.Draft(
            client_id=r.client_id, language=r.language, kind=Notice.Kind.RENEWAL_CHARGED, event=f"invoice:{number}",
            subject=words.renewed.format(number=number),
            lines=[words.renews.format(
                start=words.day(r.start), end=words.day(r.end), period=words.periods[r.period], packages=words.packages(r.packages)),
                   *words.charge(r.invoice)])

    accounts.notify_many(in_languages(renewals, write), new_events=True)  # each invoice was numbered in this transaction


@dataclass(slots=True)
class PackageChange:
    """Packages added (charged) or removed (credited) tonight (PER-6)."""

    client_id: int
    language: str
    invoice: dict  # the invoice or credit note row, numbered
    before: int
    after: int


def tell_package_changes(changes: list[PackageChange]) -> None:
    """Each package change's notice with its invoice or credit note (NTF-1), in one insert."""
    def write(c: PackageChange, words: Words):
        number = c.invoice["number"]
        if c.after > c.before:
            subject = gettext("Packages added: invoice {number}").format(number=number)
            lines = [gettext("Your active subscribers need {packages} now; the added ones are charged for the rest of the period.").format(
                packages=words.packages(c.after)), *words.charge(c.invoice)]
        else:
            subject = gettext("Packages removed: credit note {number}").format(number=number)
            lines = [gettext("Your active subscribers need {packages} now; {amount} for the rest of the period is back in your wallet.").format(
                packages=words.packages(c.after), amount=words.money(-c.invoice["total_cents"])), words.link(number)]
        return accounts.Draft(client_id=c.client_id, language=c.language, kind=Notice.Kind.PACKAGES_CHANGED, event=f"invoice:{number}",
                              subject=subject, lines=lines)

    accounts.notify_many(in_languages(changes, write), new_events=True)


# --- a new price (TAR-4, ToU 13.3) ------------------------------------------------------------------

PRICE_CHUNK = 2_000


def tell_price_change(policy_id: int) -> int:
    """Tell every PRO client whose package price changes, before the period it applies to
    (ToU 13.3): a new price is in force for periods that start from its version on, so each is told
    the day its next period starts. In chunks, one insert each; how many were told."""
    policy = PolicySettings.objects.get(pk=policy_id)
    previous = PolicySettings.objects.filter(created_at__lte=policy.created_at).exclude(pk=policy.pk).order_by("-created_at", "-id").first()
    previous = previous or PolicySettings()
    told, after = 0, 0
    while True:
        rows = list(Subscription.objects.filter(status=Subscription.Status.ACTIVE, pk__gt=after).order_by("pk")
                    .values_list("pk", "client_id", "client__language", "period", "period_end")[:PRICE_CHUNK])
        if not rows:
            return told
        drafts = []
        for _pk, client_id, language, period, period_end in rows:
            old, new = previous.package_cents(period), policy.package_cents(period)
            if old == new:
                continue
            drafts.append(accounts.Draft(
                client_id=client_id, language=language, kind=Notice.Kind.PRICE_CHANGE, event=f"price:{policy.pk}",
                subject=_("The price of a package changes from your next period"),
                lines=[format_lazy(_("From your next period, which starts on {day}, one package costs {new} instead of {old} ({period}; ToU 13.3)."),
                                   day=day_text(period_end + datetime.timedelta(days=1)), new=money_text(new), old=money_text(old), period=Period(period).label),
                       _billing_link()],
            ))
        accounts.notify_many(drafts)
        told += len(drafts)
        after = rows[-1][0]
