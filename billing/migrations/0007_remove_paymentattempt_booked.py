from django.db import migrations


class Migration(migrations.Migration):
    # Apart from the data migration before it: on PostgreSQL a table's rows and its columns are
    # not changed in one transaction (pending trigger events).

    dependencies = [
        ('billing', '0006_attempt_states_from_booked'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='paymentattempt',
            name='booked',
        ),
    ]
