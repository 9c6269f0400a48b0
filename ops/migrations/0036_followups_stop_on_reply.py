from django.db import migrations


def sync(apps, schema_editor):  # type: ignore[no-untyped-def]
    """A client's reply ends its follow-up sequences (ops.followups.SEQUENCES' stop_on)."""
    from ops.followups import sync_sequences

    sync_sequences(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0035_capabilities_merged"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
