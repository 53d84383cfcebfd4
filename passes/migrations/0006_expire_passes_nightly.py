from django.db import migrations

from core.periodic import nightly

schedule, unschedule = nightly(
    name="Expiry sweep: passes", task="passes.tasks.expire_passes", hour=0, minute=15
)


class Migration(migrations.Migration):
    dependencies = [
        ("passes", "0005_pass_expired_status"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(schedule, unschedule)]
