from django.db import migrations


def schedule(apps, schema_editor):
    """Run the funds expiry every night at 02:10 (editable in the admin's Periodic tasks)."""
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="10", hour="2", day_of_week="*", day_of_month="*", month_of_year="*"
    )
    PeriodicTask.objects.get_or_create(
        name="Expire wallet funds",
        defaults={"task": "wallets.tasks.expire_wallet_funds", "crontab": crontab},
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name="Expire wallet funds"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0003_funds_expiry"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(schedule, unschedule)]
