from django.db import migrations, models


def states_from_booked(apps, schema_editor):
    """`pending` is now `sent`; a succeeded attempt already in the ledger is `booked`; an invoice
    issued before invoices had their own state was collected when issued (paid then)."""
    attempt = apps.get_model("billing", "PaymentAttempt")
    attempt.objects.filter(status="pending").update(status="sent")
    attempt.objects.filter(status="succeeded", booked=True).update(status="booked", booked_at=models.F("completed_at"))
    invoice = apps.get_model("billing", "Invoice")
    invoice.objects.filter(status="paid").update(paid_at=models.F("issued_at"))


def booked_from_states(apps, schema_editor):
    attempt = apps.get_model("billing", "PaymentAttempt")
    attempt.objects.filter(status="booked").update(status="succeeded", booked=True)
    attempt.objects.filter(status__in=["sent", "created"]).update(status="pending")


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0005_payments_state_machine'),
    ]

    operations = [
        migrations.RunPython(states_from_booked, booked_from_states),
    ]
