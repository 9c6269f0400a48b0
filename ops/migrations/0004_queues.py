from django.db import migrations


def create_queues(apps, schema_editor):  # type: ignore[no-untyped-def]
    from ops.queues import sync_queues
    from ops.roles import sync_roles

    sync_roles(apps)  # adds manage_queues to the admin role
    sync_queues(apps)


class Migration(migrations.Migration):
    dependencies = [("ops", "0003_work_queues_and_approvals")]

    operations = [migrations.RunPython(create_queues, migrations.RunPython.noop)]
