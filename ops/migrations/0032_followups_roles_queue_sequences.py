from django.db import migrations


def sync(apps, schema_editor):  # type: ignore[no-untyped-def]
    """The follow-up permission (support, compliance), the client follow-up queue, the sequences."""
    from ops.followups import sync_sequences
    from ops.queues import sync_queues
    from ops.roles import sync_roles

    sync_roles(apps)
    sync_queues(apps)
    sync_sequences(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0031_client_communications"),
    ]

    operations = [
        migrations.RunPython(sync, migrations.RunPython.noop),
    ]
