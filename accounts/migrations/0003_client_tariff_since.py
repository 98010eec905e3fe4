import django.utils.timezone
from django.db import migrations, models


def since_joining(apps, schema_editor):
    # Everyone so far has been on Free since joining: their Free stint began then (TAR-2).
    Client = apps.get_model("accounts", "Client")
    Client.objects.update(tariff_since=models.F("date_joined"))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_staff_groups"),
    ]

    operations = [
        migrations.AddField(
            model_name="client",
            name="tariff_since",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.RunPython(since_joining, migrations.RunPython.noop),
    ]
