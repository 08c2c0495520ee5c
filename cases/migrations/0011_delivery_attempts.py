# The delivery log records every attempt (issue #12, point 8): WebhookDelivery becomes
# DeliveryAttempt, written before the send and closed after it, so an attempt whose worker
# died mid-send is kept and marked abandoned. The rename keeps the rows already logged; they
# are numbered and given the outcome their status and error show.

import datetime

from django.db import migrations, models

TIMEOUT_ERRORS = ("ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout", "TimeoutError")


def number_the_logged_attempts(apps, schema_editor):
    DeliveryAttempt = apps.get_model("cases", "DeliveryAttempt")
    batch = []
    previous_event, number = None, 0
    rows = DeliveryAttempt.objects.order_by("event_id", "started_at", "id").iterator(chunk_size=2000)
    for attempt in rows:
        number = number + 1 if attempt.event_id == previous_event else 1
        previous_event = attempt.event_id
        attempt.number = number
        attempt.finished_at = attempt.started_at + datetime.timedelta(
            milliseconds=attempt.duration_ms or 0
        )
        if not attempt.error:
            attempt.outcome = "delivered"
        elif attempt.error.split(":", 1)[0] in TIMEOUT_ERRORS:
            attempt.outcome = "timeout"
        else:
            attempt.outcome = "failed"
        batch.append(attempt)
        if len(batch) >= 2000:
            DeliveryAttempt.objects.bulk_update(batch, ["number", "finished_at", "outcome"])
            batch = []
    if batch:
        DeliveryAttempt.objects.bulk_update(batch, ["number", "finished_at", "outcome"])


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0010_list_indexes"),
    ]

    operations = [
        migrations.RenameModel(old_name="WebhookDelivery", new_name="DeliveryAttempt"),
        migrations.RenameField(
            model_name="deliveryattempt", old_name="attempted_at", new_name="started_at"
        ),
        migrations.AddField(
            model_name="deliveryattempt",
            name="number",
            field=models.PositiveIntegerField(
                default=0,
                help_text="1 for the event's first attempt; every attempt counts, replays included.",
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="deliveryattempt",
            name="finished_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="deliveryattempt",
            name="outcome",
            field=models.CharField(
                choices=[
                    ("started", "Started, no outcome yet"),
                    ("delivered", "Delivered"),
                    ("failed", "Failed"),
                    ("timeout", "Timed out"),
                    ("abandoned", "Abandoned: lease expired, worker gone"),
                ],
                default="started",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="deliveryattempt",
            name="worker",
            field=models.CharField(
                blank=True,
                help_text="The host and process that made the attempt.",
                max_length=255,
            ),
        ),
        migrations.AlterField(
            model_name="deliveryattempt",
            name="duration_ms",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AlterModelOptions(
            name="deliveryattempt",
            options={"ordering": ["event_id", "number"]},
        ),
        migrations.RunPython(number_the_logged_attempts, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="deliveryattempt",
            constraint=models.UniqueConstraint(
                fields=("event", "number"), name="delivery_attempt_number"
            ),
        ),
    ]
