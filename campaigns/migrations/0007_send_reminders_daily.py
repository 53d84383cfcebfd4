from django.db import migrations

from core.periodic import nightly

# 09:00 in the site's time zone (CELERY_TIMEZONE): reminders arrive in the morning.
schedule, unschedule = nightly(
    name="Send expiry reminders", task="campaigns.tasks.send_reminders", hour=9, minute=0
)


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0006_reminders"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(schedule, unschedule)]
