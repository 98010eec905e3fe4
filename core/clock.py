"""The billing clock: the billing day is a calendar day in BILLING_TIME_ZONE (UTC+2, no DST)."""

import calendar
import datetime
import zoneinfo

from django.conf import settings
from django.utils import timezone


def billing_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.BILLING_TIME_ZONE)


def billing_date(at: datetime.datetime | None = None) -> datetime.date:
    """The billing day of an instant (default now)."""
    return (at or timezone.now()).astimezone(billing_zone()).date()


def night_of(day: datetime.date) -> datetime.datetime:
    """01:00 in the billing zone on `day`: when the night run for that day happens."""
    return datetime.datetime.combine(day, datetime.time(1, 0), tzinfo=billing_zone())


_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def add_months(day: datetime.date, months: int) -> datetime.date:
    """Month arithmetic anchored on the day: 31 January + 1 month = 28 (or 29) February. (By
    hand rather than relativedelta: the night computes it for every renewal.)"""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    month += 1
    last = 29 if month == 2 and calendar.isleap(year) else _MONTH_DAYS[month]
    return datetime.date(year, month, min(day.day, last))
