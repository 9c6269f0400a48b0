from django.db import migrations


def create_queue(apps, schema_editor):  # type: ignore[no-untyped-def]
    from ops.queues import sync_queues

    sync_queues(apps)


class Migration(migrations.Migration):
    dependencies = [("ops", "0007_interactions")]

    operations = [migrations.RunPython(create_queue, migrations.RunPython.noop)]
