import django.utils.timezone
from django.db import migrations, models
from django.db.models import F


def from_created_at(apps, schema_editor):
    """A send that exists already was last alive when it was made, as far as we know."""
    Distribution = apps.get_model("campaigns", "Distribution")
    Distribution.objects.update(active_at=F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0011_wave_roles"),
    ]

    operations = [
        migrations.AddField(
            model_name="distribution",
            name="active_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.RunPython(from_created_at, migrations.RunPython.noop, elidable=True),
    ]
