from django.db import migrations

from core.roles import grant

VIEW = [
    "campaigns.view_messagetemplate",
    "campaigns.view_distribution",
    "campaigns.view_message",
    "campaigns.view_alert",
    "campaigns.view_analytics",
]
# Writing a contract's templates and sending its codes.
SEND = [
    "campaigns.add_messagetemplate",
    "campaigns.change_messagetemplate",
    "campaigns.delete_messagetemplate",
    "campaigns.add_distribution",
    "campaigns.change_distribution",  # resend failed messages, cancel a scheduled send
]
# Dismissing an alert once looked at.
TRIAGE = ["campaigns.change_alert"]


def grant_roles(apps, schema_editor):
    grant(
        apps,
        {
            "Administrator": [*VIEW, *SEND, *TRIAGE],
            "Contract manager": [*VIEW, *SEND, *TRIAGE],
            "Support": [*VIEW, "campaigns.change_distribution", *TRIAGE],
            "Finance": VIEW,
            "Viewer": VIEW,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0001_initial"), ("core", "0001_roles")]
    operations = [migrations.RunPython(grant_roles, migrations.RunPython.noop)]
