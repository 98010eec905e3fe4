"""Money is integer cents, one currency (USD). Pro rata rounds half up, once, at the end."""

from decimal import Decimal

from django.utils.formats import number_format
from django.utils.translation import gettext


def dollars(cents: int) -> str:
    """`1234` → `$12.34`, `-50` → `-$0.50`: how amounts read in what is stored (descriptions,
    audit); screens and emails use `local_dollars`."""
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) // 100:,}.{abs(cents) % 100:02d}"


def local_dollars(cents: int) -> str:
    """An amount as a person reading the active language writes it: `$1,234.56` in English,
    `1 234,56 $` in Ukrainian (the separators are the locale's, the sign's place a translation)."""
    amount = number_format(Decimal(abs(cents)) / 100, decimal_pos=2, use_l10n=True, force_grouping=True)
    # Translators: where the dollar sign goes around an amount, e.g. "%(amount)s $".
    written = gettext("$%(amount)s") % {"amount": amount}
    return f"-{written}" if cents < 0 else written


def prorate(amount_cents: int, days: int, period_days: int) -> int:
    """`amount × days ÷ period_days`, rounded half up to the cent (PER-6), in integers only.
    `days` is clamped to the period: a part is never more than the whole, nor less than nothing."""
    if period_days <= 0:
        raise ValueError("A period has at least one day.")
    days = max(0, min(days, period_days))
    return (2 * amount_cents * days + period_days) // (2 * period_days)


def prorate_formula(*, packages: int, price_cents: int, days: int, period_days: int) -> tuple[int, str]:
    """The pro-rata amount for some packages and the sentence that explains it (WAL-1):
    `1 package × $10.00 × 19/30 days = $6.33`."""
    amount = prorate(packages * price_cents, days, period_days)
    noun = "package" if packages == 1 else "packages"
    return amount, f"{packages} {noun} × {dollars(price_cents)} × {days}/{period_days} days = {dollars(amount)}"
