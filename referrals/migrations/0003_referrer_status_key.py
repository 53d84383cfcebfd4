from django.db import migrations, models

import referrals.models
from core.roles import grant


def grant_roles(apps, schema_editor):
    # Replacing a referrer's status link goes with Support's other referral work.
    grant(
        apps,
        {
            "Administrator": ["referrals.change_referrer"],
            "Contract manager": ["referrals.change_referrer"],
            "Support": ["referrals.change_referrer"],
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0002_roles_and_webhook_sweep"),
    ]

    operations = [
        # Referrers from before keys keep "" (their emailed links carry no key and still
        # open); new referrers get a key of their own.
        migrations.AddField(
            model_name="referrer",
            name="status_key",
            field=models.CharField(blank=True, default="", max_length=16),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="referrer",
            name="status_key",
            field=models.CharField(
                blank=True, default=referrals.models.new_status_key, max_length=16
            ),
        ),
        migrations.RunPython(grant_roles, migrations.RunPython.noop),
    ]
