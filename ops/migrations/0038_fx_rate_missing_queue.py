from django.db import migrations


def sync(apps, schema_editor):  # type: ignore[no-untyped-def]
    """The "Missing FX rate" queue (ops.queues): amounts a monitoring rule or the exposure could not
    convert for want of a rate."""
    from ops.queues import sync_queues

    sync_queues(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0037_merge_20261130_0425"),
    ]

    operations = [
        migrations.RunPython(sync, migrations.RunPython.noop),
    ]
