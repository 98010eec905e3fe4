"""Working days for deadlines (CMP-4): weekends and the holidays in the table are skipped."""

import datetime

from compliance.models import Holiday


def add_working_days(start: datetime.date, days: int) -> datetime.date:
    """The date `days` working days after `start` (a complaint received on a Friday counts from
    the Monday)."""
    holidays = set(Holiday.objects.filter(date__gt=start, date__lte=start + datetime.timedelta(days=days * 2 + 60)).values_list("date", flat=True))
    day, left = start, days
    while left:
        day += datetime.timedelta(days=1)
        if day.weekday() < 5 and day not in holidays:
            left -= 1
    return day
