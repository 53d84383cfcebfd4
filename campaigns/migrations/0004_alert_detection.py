"""What anomaly detection needs: two indexes on the redemption log, and its every-minute job.

The indexes belong to invitations' table but serve only the detection, so they are made
here, by name, outside the model state (makemigrations does not see them):
- attempt_created_at: the log's last minutes, which every check starts from;
- attempt_address_time: one address's attempts today, for the addresses found.
On PostgreSQL they are built CONCURRENTLY (hence a non-atomic migration), so a big log
keeps taking bookings meanwhile. Note for SQLite: a later invitations migration that makes
SQLite rebuild the table drops them (detection then still works, scanning more).
"""

from django.db import migrations

NAME = "Detect anomalies"
INDEXES = {
    "attempt_created_at": "(created_at)",
    "attempt_address_time": "(address, created_at)",
}


def create_indexes(apps, schema_editor):
    table = apps.get_model("invitations", "RedemptionAttempt")._meta.db_table
    concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
    for name, columns in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX{concurrently} IF NOT EXISTS {name} ON {table} {columns}"
        )


def drop_indexes(apps, schema_editor):
    concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX{concurrently} IF EXISTS {name}")


def schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": "campaigns.tasks.detect_anomalies",
            "interval": every_minute,
            # A run left waiting behind a stopped worker is stale once the next one is due.
            "expire_seconds": 60,
        },
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("campaigns", "0003_start_scheduled_distributions"),
        ("invitations", "0013_quota_result_and_booking_index"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [
        migrations.RunPython(create_indexes, drop_indexes),
        migrations.RunPython(schedule, unschedule),
    ]
