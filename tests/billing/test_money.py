"""The arithmetic of money (PER-6, WAL-1) and of periods (PER-1, TAR-3, TAR-4)."""

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.models import PolicySettings, period_bounds
from billing.services import packages_needed
from core.money import dollars, prorate, prorate_formula


def test_wal1_a_pro_rata_entry_explains_itself():
    assert prorate_formula(packages=1, price_cents=1000, days=19, period_days=30) == (633, "1 package × $10.00 × 19/30 days = $6.33")
    assert prorate_formula(packages=2, price_cents=2700, days=10, period_days=92)[1] == "2 packages × $27.00 × 10/92 days = $5.87"


@pytest.mark.parametrize(("amount", "days", "period", "expected"), [
    (1000, 15, 30, 500), (1000, 1, 3, 333), (1000, 2, 3, 667), (1, 1, 2, 1), (3, 1, 2, 2), (1000, 0, 30, 0), (1000, 30, 30, 1000),
])
def test_per6_pro_rata_rounds_half_up_to_the_cent(amount, days, period, expected):
    assert prorate(amount, days, period) == expected


@given(st.integers(0, 10_000_000), st.integers(1, 366), st.data())
def test_per6_pro_rata_is_never_more_than_the_whole_nor_off_by_more_than_half_a_cent(amount, period, data):
    days = data.draw(st.integers(-5, period + 5))
    part = prorate(amount, days, period)
    clamped = max(0, min(days, period))
    assert 0 <= part <= amount
    assert abs(part * period - amount * clamped) * 2 <= period  # within half a cent of the exact value


@given(st.integers(0, 10_000_000), st.integers(1, 366), st.data())
def test_per6_the_used_and_unused_parts_add_up_to_within_a_cent(amount, period, data):
    days = data.draw(st.integers(0, period))
    assert abs(prorate(amount, days, period) + prorate(amount, period - days, period) - amount) <= 1


def test_dollars_reads_like_money():
    assert (dollars(633), dollars(-50), dollars(123456789)) == ("$6.33", "-$0.50", "$1,234,567.89")


@pytest.mark.parametrize(("active", "packages"), [(0, 1), (1, 1), (999, 1), (1000, 1), (1001, 2), (2000, 2), (2001, 3)])
def test_tar3_packages_for_active_subscribers(active, packages):
    assert packages_needed(active) == packages


def test_tar4_default_prices_and_discounts():
    policy = PolicySettings()
    assert (policy.package_cents("monthly"), policy.package_cents("quarterly"), policy.package_cents("yearly")) == (1000, 2700, 9600)


def test_per1_quarterly_from_04_04_runs_to_04_07():
    assert period_bounds(anchor=datetime.date(2026, 4, 4), period="quarterly", index=1) == (datetime.date(2026, 4, 4), datetime.date(2026, 7, 4))
    assert period_bounds(anchor=datetime.date(2026, 4, 4), period="quarterly", index=2) == (datetime.date(2026, 7, 5), datetime.date(2026, 10, 4))


def test_per1_monthly_from_31_january_runs_to_the_end_of_february_then_31_march():
    jan31 = datetime.date(2027, 1, 31)
    assert period_bounds(anchor=jan31, period="monthly", index=1) == (jan31, datetime.date(2027, 2, 28))
    assert period_bounds(anchor=jan31, period="monthly", index=2) == (datetime.date(2027, 3, 1), datetime.date(2027, 3, 31))
    leap = datetime.date(2028, 1, 31)
    assert period_bounds(anchor=leap, period="monthly", index=1)[1] == datetime.date(2028, 2, 29)


def test_per1_a_yearly_period_from_29_february():
    start, end = period_bounds(anchor=datetime.date(2028, 2, 29), period="yearly", index=1)
    assert end == datetime.date(2029, 2, 28)
    assert period_bounds(anchor=datetime.date(2028, 2, 29), period="yearly", index=4)[1] == datetime.date(2032, 2, 29)
