"""CMP-8: a signed-in client's cookie answer is bound to its account, a visitor's found only by its
own random id. The rows written before: per client, the latest answer becomes the account's (its
visitor id dropped); the client's older rows stay as visitors' answers under their random ids,
except those under the old guessable `client-<id>` ids, which go."""

from django.conf import settings
from django.db import migrations, models


def bind_to_accounts(apps, schema_editor):
    CookieConsent = apps.get_model("compliance", "CookieConsent")
    CookieConsent.objects.filter(client__isnull=True, visitor__startswith="client-").delete()
    kept: set[int] = set()
    for consent in CookieConsent.objects.filter(client__isnull=False).order_by("-updated_at", "-id"):
        if consent.client_id not in kept:
            kept.add(consent.client_id)
            consent.visitor = None
            consent.save(update_fields=["visitor"])
        elif (consent.visitor or "").startswith("client-"):
            consent.delete()
        else:
            consent.client = None
            consent.save(update_fields=["client"])


class Migration(migrations.Migration):

    dependencies = [
        ('compliance', '0011_only_indexes_lookups_use'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='cookieconsent',
            name='visitor',
            field=models.CharField(blank=True, help_text="A random id kept in the visitor's cookie.", max_length=64, null=True),
        ),
        migrations.RunPython(bind_to_accounts, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='cookieconsent',
            constraint=models.UniqueConstraint(condition=models.Q(('visitor__isnull', False)), fields=('visitor',), name='cookie_consent_visitor_once'),
        ),
        migrations.AddConstraint(
            model_name='cookieconsent',
            constraint=models.UniqueConstraint(condition=models.Q(('client__isnull', False)), fields=('client',), name='cookie_consent_client_once'),
        ),
        migrations.AddConstraint(
            model_name='cookieconsent',
            constraint=models.CheckConstraint(condition=models.Q(('visitor__isnull', True), ('client__isnull', True), _connector='OR'), name='cookie_consent_visitor_or_client'),
        ),
    ]
