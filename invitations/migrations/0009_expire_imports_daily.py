from django.db import migrations

from core.periodic import nightly

schedule, unschedule = nightly(
    name="Expire unimported participant uploads",
    task="invitations.tasks.expire_participant_imports",
    hour=2,
    minute=20,
)


class Migration(migrations.Migration):
    dependencies = [
        ("invitations", "0008_import_expired_status"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(schedule, unschedule)]
