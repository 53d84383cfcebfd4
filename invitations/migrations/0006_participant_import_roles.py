from django.db import migrations

from core.roles import grant

ALL = [f"invitations.{action}_participantimport" for action in ("add", "change", "delete", "view")]
VIEW = ["invitations.view_participantimport"]


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
    dependencies = [("invitations", "0005_participant_import"), ("core", "0001_roles")]
    operations = [migrations.RunPython(grant_roles, migrations.RunPython.noop)]
