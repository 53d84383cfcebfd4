from django.db import migrations

from core.roles import grant

MODELS = ("wallet", "walletbalance", "wallettransaction")
VIEW = [f"wallets.view_{m}" for m in MODELS]
ALL = [f"wallets.{action}_{m}" for m in MODELS for action in ("add", "change", "delete", "view")]
DEBIT = "wallets.debit_wallet"


def grant_roles(apps, schema_editor):
    grant(
        apps,
        {
            "Administrator": [*ALL, DEBIT],
            "Contract manager": VIEW,
            "Support": VIEW,
            "Finance": [*VIEW, DEBIT],
            "Viewer": VIEW,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("wallets", "0001_initial"), ("core", "0001_roles")]
    operations = [migrations.RunPython(grant_roles, migrations.RunPython.noop)]
