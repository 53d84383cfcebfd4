from django.db import migrations

from core.roles import grant

VIEW = ["campaigns.view_reminderrule"]
# Keeping a contract's reminders goes with writing its templates.
KEEP = [f"campaigns.{action}_reminderrule" for action in ("add", "change", "delete")]


def grant_roles(apps, schema_editor):
    grant(
        apps,
        {
            "Administrator": [*VIEW, *KEEP],
            "Contract manager": [*VIEW, *KEEP],
            "Support": VIEW,
            "Finance": VIEW,
            "Viewer": VIEW,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0007_send_reminders_daily"), ("core", "0001_roles")]
    operations = [migrations.RunPython(grant_roles, migrations.RunPython.noop)]
