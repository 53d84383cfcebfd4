from django.db import migrations


def schedule(apps, schema_editor):
    """Forget unimported uploads every night at 02:20 (editable in Periodic tasks)."""
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="20", hour="2", day_of_week="*", day_of_month="*", month_of_year="*"
    )
    PeriodicTask.objects.get_or_create(
        name="Expire unimported participant uploads",
        defaults={"task": "invitations.tasks.expire_participant_imports", "crontab": crontab},
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name="Expire unimported participant uploads"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("invitations", "0008_import_expired_status"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(schedule, unschedule)]
