from django.db import migrations

from core.roles import grant

VIEW = ["invitations.view_booking", "invitations.view_redemptionattempt"]
# add_booking: redeeming codes for people through the API.
BOOK = ["invitations.add_booking"]
VOID = ["invitations.void_booking"]


def grant_roles(apps, schema_editor):
    grant(
        apps,
        {
            "Administrator": [*VIEW, *BOOK, *VOID],
            "Contract manager": [*VIEW, *BOOK],
            "Support": [*VIEW, *BOOK, *VOID],
            "Finance": VIEW,
            "Viewer": VIEW,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("invitations", "0010_bookings_and_code_rules"), ("core", "0001_roles")]
    operations = [migrations.RunPython(grant_roles, migrations.RunPython.noop)]
