from django.db import migrations


def setup(apps, schema_editor):
    from ops.queues import sync_queues
    from payments.policies import sync_policies

    sync_queues(apps)
    sync_policies(apps)


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_initial"), ("ops", "0007_interactions")]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS payments_reference_seq START 1",
            "DROP SEQUENCE IF EXISTS payments_reference_seq",
        ),
        migrations.RunPython(setup, migrations.RunPython.noop),
    ]
