from django.db import migrations


def sync(apps, schema_editor):  # type: ignore[no-untyped-def]
    """The roles and queues of the branches merged here (identity checks, client follow-ups), once
    both have run."""
    from ops.queues import sync_queues
    from ops.roles import sync_roles

    sync_roles(apps)
    sync_queues(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0031_identity_check_queue"),
        ("ops", "0032_followups_roles_queue_sequences"),
    ]

    operations = [
        migrations.RunPython(sync, migrations.RunPython.noop),
    ]
