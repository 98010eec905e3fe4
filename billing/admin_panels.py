"""What billing holds on a client, for its admin page (issue 16): registered with the accounts
panel registry from `BillingConfig.ready()`. Read only, through billing's selectors: a client
without a wallet reads $0.00 and gets none made; a fixed number of queries whatever it holds."""

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.admin_panels import Fact, Listing, Row, last, moment, register_client_panel
from billing import selectors
from billing.models import Card, Invoice, LedgerEntry, PeriodChangeRequest, Subscription, Wallet
from core.admin import change_url, changelist_url
from core.money import dollars


def _split(amounts: dict) -> str:
    """"$20.00 ($5.00 from the wallet, $15.00 from the card)" (WAL-2, WAL-7)."""
    return gettext("%(total)s (%(wallet)s from the wallet, %(card)s from the card)") % {
        "total": dollars(amounts["amount_cents"]), "wallet": dollars(amounts["wallet_cents"]), "card": dollars(amounts["card_cents"])}


def tariff_panel(client) -> dict:
    """TAR, PER, WAL-7: the tariff, the period and its packages, and what the next renewal and
    tonight's package change will charge, wallet and card apart."""
    facts = [Fact(gettext("Tariff"), str(client.get_tariff_display())), Fact(gettext("Tariff since"), moment(client.tariff_since))]
    subscription = Subscription.objects.filter(client=client).first()
    if subscription is None:
        facts.append(Fact(gettext("Subscription"), gettext("never on PRO")))
        return {"facts": facts}
    facts += [
        Fact(gettext("Subscription"), subscription.get_status_display(), change_url(subscription)),
        Fact(gettext("Period"), gettext("%(period)s, %(start)s – %(end)s") % {
            "period": subscription.get_period_display(), "start": moment(subscription.period_start), "end": moment(subscription.period_end)}),
        Fact(gettext("Packages"), gettext("%(count)s × %(price)s") % {"count": subscription.packages, "price": dollars(subscription.package_price_cents)}),
    ]
    if subscription.ends_after:
        facts.append(Fact(gettext("PRO ends after"), moment(subscription.ends_after)))
    upcoming = selectors.upcoming(client=client)
    if renewal := upcoming["renewal"]:
        facts.append(Fact(gettext("Next renewal"), gettext("%(at)s: %(packages)s packages, %(amount)s") % {
            "at": moment(renewal["at"]), "packages": renewal["packages"], "amount": _split(renewal)}))
    elif subscription.is_active:
        facts.append(Fact(gettext("Next renewal"), gettext("none: PRO ends with this period")))
    if tonight := upcoming["tonight"]:
        facts.append(Fact(gettext("Tonight's package change"), f"{tonight['packages_change']:+} — {tonight['description']}: {_split(tonight)}"
                          if tonight["amount_cents"] > 0 else f"{tonight['packages_change']:+} — {tonight['description']}"))
    pending = PeriodChangeRequest.objects.filter(client=client, status=PeriodChangeRequest.Status.PENDING).first()
    if pending is not None:
        facts.append(Fact(gettext("Period change asked"), gettext("%(from)s → %(to)s, waiting for staff") % {
            "from": pending.get_from_period_display(), "to": pending.get_to_period_display()}, change_url(pending)))
    return {"facts": facts}


def wallet_panel(client) -> dict:
    """WAL-1, CARD-1: the wallet's balance and its last ledger entries, and the cards."""
    wallet = Wallet.objects.filter(client=client).first()  # read, never made here
    balance = selectors.balance_of(client)
    facts = [Fact(gettext("Balance"), dollars(balance), change_url(wallet) if wallet else "")]
    if balance < 0:
        facts.append(Fact(gettext("Debt"), dollars(-balance)))
    if wallet is not None and (wallet.failed_collections or wallet.debt_since or wallet.deletion_scheduled_for):
        facts += [Fact(gettext("Failed collections in a row"), str(wallet.failed_collections)),
                  Fact(gettext("In debt since"), moment(wallet.debt_since)),
                  Fact(gettext("Deletion scheduled for"), moment(wallet.deletion_scheduled_for))]
    entries = []
    if wallet is not None:
        entries = [Row(f"{dollars(entry.amount_cents)} {entry.get_kind_display()}", change_url(entry), [moment(entry.created_at), entry.description])
                   for entry in last(selectors.ledger_of(client=client).order_by("-created_at", "-id"))]
    cards = [Row(str(card), change_url(card), [card.get_role_display(), gettext("expires %(month)02d/%(year)s") % {"month": card.exp_month, "year": card.exp_year}],
                 flag=(gettext("removed %(at)s") % {"at": moment(card.removed_at)}) if card.removed_at
                 else gettext("verified") if card.verified_at else gettext("not verified"))
             for card in last(Card.objects.filter(client=client).order_by("-created_at", "-id"))]
    return {"facts": facts, "lists": [
        Listing(gettext("Ledger"), entries, changelist_url(LedgerEntry, wallet__id__exact=wallet.pk) if wallet else "", gettext("No entry.")),
        Listing(gettext("Cards"), cards, changelist_url(Card, client__id__exact=client.pk), gettext("No card.")),
    ]}


def invoices_panel(client) -> dict:
    """WAL-6: the last invoices and credit notes, each with its total and status."""
    rows = []
    for invoice in last(Invoice.objects.filter(client=client).order_by("-issued_at", "-id")):
        details = [dollars(invoice.total_cents), gettext("issued %(at)s") % {"at": moment(invoice.issued_at)}]
        if invoice.status == Invoice.Status.PAID:
            details.append(gettext("paid %(at)s") % {"at": moment(invoice.paid_at)})
        elif invoice.status == Invoice.Status.OPEN:
            details.append(gettext("due %(at)s") % {"at": moment(invoice.due_at)})
        rows.append(Row(str(invoice), change_url(invoice), details, flag=invoice.get_status_display()))
    return {"lists": [Listing(gettext("Invoices and credit notes"), rows, changelist_url(Invoice, client__id__exact=client.pk), gettext("No invoice."))]}


register_client_panel(20, _("Tariff and next renewal"), tariff_panel, permission="billing.view_subscription")
register_client_panel(30, _("Wallet and cards"), wallet_panel, permission="billing.view_wallet")
register_client_panel(40, _("Invoices"), invoices_panel, permission="billing.view_invoice")
