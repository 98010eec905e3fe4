"""Public holidays for complaint deadlines (CMP-4), from the `holidays` library for
HOLIDAY_COUNTRY, this year and the next five. Staff edit the table in the admin afterwards."""

import datetime

import holidays
from django.conf import settings
from django.db import migrations


def seed(apps, schema_editor):
    Holiday = apps.get_model("compliance", "Holiday")
    year = datetime.date.today().year
    days = holidays.country_holidays(settings.HOLIDAY_COUNTRY, years=range(year, year + 6))
    Holiday.objects.bulk_create([Holiday(date=day, name=name[:120]) for day, name in sorted(days.items())], ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [("compliance", "0005_complaints")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
