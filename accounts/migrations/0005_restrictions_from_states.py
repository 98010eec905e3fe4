"""Each account blocked or suspended before restrictions stacked (ACC-3) gets the restriction its
state stood for, so that lifting it later works as for any other."""

from django.db import migrations
from django.utils import timezone


def forwards(apps, schema_editor):
    Client = apps.get_model("accounts", "Client")
    Restriction = apps.get_model("accounts", "Restriction")
    StateChange = apps.get_model("accounts", "AccountStateChange")
    rows = []
    for client in Client.objects.filter(status__in=["blocked", "suspended"]).iterator():
        since = StateChange.objects.filter(client=client, to_status=client.status).order_by("-created_at").values_list("created_at", flat=True).first()
        blocked = client.status == "blocked"
        rows.append(Restriction(client=client, kind="block" if blocked else "suspension", reason=client.block_reason if blocked else "billing",
                                starts_at=since or timezone.now(), ends_at=client.blocked_until if blocked else None))
    Restriction.objects.bulk_create(rows)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_restriction")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
