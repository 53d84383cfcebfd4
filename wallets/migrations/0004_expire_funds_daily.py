from django.db import migrations

from core.periodic import nightly

schedule, unschedule = nightly(
    name="Expire wallet funds", task="wallets.tasks.expire_wallet_funds", hour=2, minute=10
)


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0003_funds_expiry"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(schedule, unschedule)]
