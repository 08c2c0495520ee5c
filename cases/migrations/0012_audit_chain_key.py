"""The audit chain is keyed: each event records which AUDIT_CHAIN_KEYS key chained it.

Nothing is re-chained (the log is append-only, and re-hashing every row would be exactly the
rewrite the chain must detect). Events written before this migration get ``key_id = ""``: they
are legacy events, verified the old way (plain SHA-256), and the first keyed event chains from
the last legacy hash. Legacy events are accepted only at the start of the chain; the first
signed checkpoint written after this migration (``manage.py audit_verify``, or beat within
AUDIT_CHECKPOINT_SECONDS) anchors them outside the database. See README, "Append-only,
hash-chained audit log".

Adding a column makes Django rebuild the table on SQLite, which drops the UPDATE trigger of
0002_audit_append_only; it is put back here (both ways).
"""

from django.db import migrations, models

SQLITE_TRIGGER = """CREATE TRIGGER IF NOT EXISTS cases_auditevent_no_update
    BEFORE UPDATE ON cases_auditevent
    BEGIN SELECT RAISE(ABORT, 'cases_auditevent is append-only: UPDATE refused'); END;"""


def restore_sqlite_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_TRIGGER)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0011_delivery_attempts"),
    ]

    operations = [
        # Undoing the AddField rebuilds the table again: the trigger is put back after it too.
        migrations.RunPython(migrations.RunPython.noop, restore_sqlite_trigger),
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(blank=True, default="", max_length=16),
        ),
        migrations.RunPython(restore_sqlite_trigger, migrations.RunPython.noop),
    ]
