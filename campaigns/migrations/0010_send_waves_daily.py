from django.db import migrations

from core.periodic import nightly

# 08:30 in the site's time zone (CELERY_TIMEZONE): codes arrive in the morning.
schedule, unschedule = nightly(
    name="Send waves of codes", task="campaigns.tasks.send_waves", hour=8, minute=30
)


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0009_waves"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(schedule, unschedule)]
