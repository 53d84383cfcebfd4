from django.db import migrations

from core.roles import grant

MODELS = ("passplan", "pass", "passbatch", "passevent", "passredemption")
VIEW = [f"passes.view_{m}" for m in MODELS]
ALL = [f"passes.{action}_{m}" for m in MODELS for action in ("add", "change", "delete", "view")]


def grant_roles(apps, schema_editor):
    grant(
        apps,
        {
            "Administrator": ALL,
            "Contract manager": ALL,
            "Support": VIEW,
            "Finance": VIEW,
            "Viewer": VIEW,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("passes", "0001_initial"), ("core", "0001_roles")]
    operations = [migrations.RunPython(grant_roles, migrations.RunPython.noop)]
