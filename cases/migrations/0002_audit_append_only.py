"""The database itself refuses to change or remove audit events, whatever code connects.

TRUNCATE stays possible (the test runner empties tables with it); in production the
application's database role should hold INSERT and SELECT only on this table.
On SQLite, the embedded development default, only UPDATE is refused at this level, so the
test runner can empty the table between tests; the application refuses deletes itself.
"""

from django.db import migrations

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION cases_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'cases_auditevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER cases_auditevent_no_update BEFORE UPDATE OR DELETE ON cases_auditevent
    FOR EACH ROW EXECUTE FUNCTION cases_auditevent_append_only();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS cases_auditevent_no_update ON cases_auditevent;
DROP FUNCTION IF EXISTS cases_auditevent_append_only();
"""
SQLITE_UP = [
    """CREATE TRIGGER cases_auditevent_no_update BEFORE UPDATE ON cases_auditevent
       BEGIN SELECT RAISE(ABORT, 'cases_auditevent is append-only: UPDATE refused'); END;""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS cases_auditevent_no_update;",
]


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_UP:
            schema_editor.execute(statement)


def remove(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_DOWN:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("cases", "0001_initial")]

    operations = [migrations.RunPython(install, remove)]
