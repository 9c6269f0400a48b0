from django.db import migrations


class Migration(migrations.Migration):
    """Joins the report permissions' branch with the others; 0035 syncs the roles and queues."""

    dependencies = [
        ("ops", "0031_report_permissions"),
        ("ops", "0033_merged"),
    ]

    operations = []
