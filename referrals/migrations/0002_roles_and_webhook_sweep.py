from django.db import migrations

from core.roles import grant

MODELS = ("referralprogram", "rewardtier", "referrer", "referral", "reward", "referrerimport")
VIEW = [f"referrals.view_{m}" for m in MODELS] + [
    "core.view_webhookendpoint",
    "core.view_webhookdelivery",
]
# Setting programs up: the program, its tiers and endpoints, and imports of existing users.
SET_UP = [
    "referrals.add_referralprogram",
    "referrals.change_referralprogram",
    "referrals.add_rewardtier",
    "referrals.delete_rewardtier",
    "referrals.add_referrerimport",
    "core.change_webhookdelivery",  # Resend
]
# Reviewing flagged referrals; delivering and revoking rewards.
REVIEW = ["referrals.change_referral", "referrals.change_reward"]


def grant_roles(apps, schema_editor):
    grant(
        apps,
        {
            "Administrator": [*VIEW, *SET_UP, *REVIEW, "referrals.delete_referralprogram"],
            "Contract manager": [*VIEW, *SET_UP, *REVIEW],
            "Support": [*VIEW, *REVIEW],
            "Finance": VIEW,
            "Viewer": VIEW,
        },
    )


def schedule_sweep(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="Retry due webhook deliveries",
        defaults={"task": "core.tasks.retry_due_webhooks", "interval": every_minute},
    )


def unschedule_sweep(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name="Retry due webhook deliveries"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0001_initial"),
        ("core", "0002_webhooks"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [
        migrations.RunPython(grant_roles, migrations.RunPython.noop),
        migrations.RunPython(schedule_sweep, unschedule_sweep),
    ]
