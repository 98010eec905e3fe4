"""The sandbox gateway's memory as an UNLOGGED table on PostgreSQL: it stands for another company's
system, whose memory is not our database's to keep durable, and a night's thousands of charges
(one statement each) then cost our write-ahead log nothing. A crash of PostgreSQL empties it, as if
that gateway had forgotten: an unanswered attempt is then found missing and fails (`not_received`),
and what was booked stays booked."""

from django.db import migrations


def set_logged(logged: bool):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            table = schema_editor.quote_name(apps.get_model("billing", "SandboxCharge")._meta.db_table)
            schema_editor.execute(f"ALTER TABLE {table} SET {'LOGGED' if logged else 'UNLOGGED'}")

    return run


class Migration(migrations.Migration):
    dependencies = [("billing", "0008_only_indexes_lookups_use")]

    operations = [migrations.RunPython(set_logged(False), set_logged(True))]
