"""Money is integer cents, one currency (USD). Pro rata rounds half up, once, at the end."""


def dollars(cents: int) -> str:
    """`1234` → `$12.34`, `-50` → `-$0.50`: how amounts read in descriptions and screens."""
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) // 100:,}.{abs(cents) % 100:02d}"


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
