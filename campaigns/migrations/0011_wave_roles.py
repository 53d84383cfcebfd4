from django.db import migrations

from core.roles import grant

VIEW = ["campaigns.view_wave"]
# Keeping a contract's waves goes with sending its codes.
KEEP = [f"campaigns.{action}_wave" for action in ("add", "change", "delete")]


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
    dependencies = [("campaigns", "0010_send_waves_daily"), ("core", "0001_roles")]
    operations = [migrations.RunPython(grant_roles, migrations.RunPython.noop)]
