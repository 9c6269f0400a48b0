from django.db import migrations


def create_queue(apps, schema_editor):  # type: ignore[no-untyped-def]
    from ops.queues import sync_queues

    sync_queues(apps)


class Migration(migrations.Migration):
    dependencies = [("ops", "0014_identity_document_files")]

    operations = [migrations.RunPython(create_queue, migrations.RunPython.noop)]
