# The column first without a default, so that rows made before it stay empty (not "made at the
# migration"); then the database's default for every row made from now on. Both are catalogue
# changes on PostgreSQL: no table rewrite at a million rows.

import django.db.models.functions.datetime
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('projects', '0008_funnel_staff_permissions'),
    ]

    operations = [
        migrations.AddField(
            model_name='subscriber',
            name='created_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AlterField(
            model_name='subscriber',
            name='created_at',
            field=models.DateTimeField(blank=True, db_default=django.db.models.functions.datetime.Now(), editable=False, null=True),
        ),
    ]
