"""The reference sequence and the five account types of the pre-launch check (seed 003): an
admin tunes them afterwards; every change is in their history."""

from django.db import migrations


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    from accounts.account_types import sync_account_types

    sync_account_types(apps)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS accounts_client_reference_seq START 1001",
            "DROP SEQUENCE IF EXISTS accounts_client_reference_seq",
        ),
        migrations.RunPython(create, migrations.RunPython.noop),
    ]
