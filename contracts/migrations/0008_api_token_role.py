from django.db import migrations

from core.roles import grant


def grant_roles(apps, schema_editor):
    # API tokens reach an organisation's data from outside: Administrators manage them.
    grant(apps, {"Administrator": ["contracts.manage_api_tokens"]})


class Migration(migrations.Migration):
    dependencies = [("contracts", "0007_crm_tokens_external_ids_webhooks"), ("core", "0001_roles")]
    operations = [migrations.RunPython(grant_roles, migrations.RunPython.noop)]
