"""The CRM push goes through the shared outbox: each push's payload becomes an ops.OutboxEvent of
type "crm.contact_push" (its time kept), and the CrmPush row keeps only the CRM consumer's delivery
state, pointing at its event. Past history rows keep their payload column dropped with it; they had
been pseudonymised with the push where the retention job ran."""

import os
import uuid

import django.db.models.deletion
from django.db import migrations, models


def _uuid7_at(moment) -> uuid.UUID:  # as ops.services.events.uuid7, at the push's own time
    millis = int(moment.timestamp() * 1000)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & (2**48 - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & (2**62 - 1)
    return uuid.UUID(int=value)


def payloads_to_outbox(apps, schema_editor):
    CrmPush = apps.get_model("accounts", "CrmPush")
    OutboxEvent = apps.get_model("ops", "OutboxEvent")
    for push in CrmPush.objects.filter(event__isnull=True).order_by("pk").iterator():
        event = OutboxEvent.objects.create(
            id=_uuid7_at(push.created_at),
            type="crm.contact_push",
            subject_type="accounts.client",
            subject_id=str(push.client_id),
            data=push.payload,
            created_at=push.created_at,
            fanned_out_at=push.created_at,
        )
        CrmPush.objects.filter(pk=push.pk).update(event=event)


def outbox_to_payloads(apps, schema_editor):
    CrmPush = apps.get_model("accounts", "CrmPush")
    for push in CrmPush.objects.select_related("event").order_by("pk").iterator():
        CrmPush.objects.filter(pk=push.pk).update(payload=push.event.data)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0009_crm_sync"),
        ("ops", "0035_capabilities_merged"),
    ]

    operations = [
        migrations.AddField(
            model_name="crmpush",
            name="event",
            field=models.OneToOneField(
                null=True, on_delete=django.db.models.deletion.PROTECT, related_name="crm_push", to="ops.outboxevent"
            ),
        ),
        migrations.AddField(
            model_name="historicalcrmpush",
            name="event",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="ops.outboxevent",
            ),
        ),
        migrations.AlterField(model_name="crmpush", name="payload", field=models.JSONField(default=dict)),
        migrations.RunPython(payloads_to_outbox, outbox_to_payloads),
        migrations.RemoveField(model_name="crmpush", name="payload"),
        migrations.RemoveField(model_name="historicalcrmpush", name="payload"),
        migrations.AlterField(
            model_name="crmpush",
            name="event",
            field=models.OneToOneField(
                on_delete=django.db.models.deletion.PROTECT, related_name="crm_push", to="ops.outboxevent"
            ),
        ),
    ]
