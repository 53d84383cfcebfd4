from django.db import migrations

from core.periodic import nightly

schedule, unschedule = nightly(
    name="Expiry sweep: codes", task="invitations.tasks.sweep_expired_codes", hour=0, minute=10
)


class Migration(migrations.Migration):
    dependencies = [
        ("invitations", "0016_release_batches_every_minute"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(schedule, unschedule)]
