from django.db import migrations


class Migration(migrations.Migration):
    """Dispute references (IBD-000001...) are numbered by a sequence, as payments' references are."""

    dependencies = [
        ("ib", "0005_partner_plan_approval"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS ib_dispute_reference_seq START 1",
            "DROP SEQUENCE IF EXISTS ib_dispute_reference_seq",
        ),
    ]
