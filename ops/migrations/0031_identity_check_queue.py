from django.db import migrations


def sync(apps, schema_editor):  # type: ignore[no-untyped-def]
    """The "Identity check not completed" queue (ops.queues): the identity verification provider
    could not be reached for a document."""
    from ops.queues import sync_queues

    sync_queues(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0030_capabilities_merged"),
    ]

    operations = [
        migrations.RunPython(sync, migrations.RunPython.noop),
    ]
