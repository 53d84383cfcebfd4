from django.db import migrations

from core.periodic import every_minute

schedule, unschedule = every_minute(
    name="Release scheduled code batches", task="invitations.tasks.release_code_batches"
)


class Migration(migrations.Migration):
    dependencies = [
        ("invitations", "0015_batch_release"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(schedule, unschedule)]
