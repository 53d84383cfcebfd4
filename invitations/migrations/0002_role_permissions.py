from django.db import migrations

from core.roles import grant

MODELS = ("invitationcode", "codebatch")
VIEW = [f"invitations.view_{m}" for m in MODELS]
ALL = [f"invitations.{action}_{m}" for m in MODELS for action in ("add", "change", "delete", "view")]
EXPORT = "invitations.export_invitationcode"


def grant_roles(apps, schema_editor):
    grant(
        apps,
        {
            "Administrator": [*ALL, EXPORT],
            "Contract manager": [*ALL, EXPORT],
            "Support": [*VIEW, "invitations.change_invitationcode"],
            "Finance": [*VIEW, EXPORT],
            "Viewer": VIEW,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("invitations", "0001_initial"), ("core", "0001_roles")]
    operations = [migrations.RunPython(grant_roles, migrations.RunPython.noop)]
