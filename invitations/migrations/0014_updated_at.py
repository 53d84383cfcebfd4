"""updated_at on codes and bookings, for the CRM change feeds, with its (updated_at, id) index.

Fast on a table of millions of codes: the column's default is STATEMENT_TIMESTAMP(), which
is not volatile, so PostgreSQL 11+ adds it without rewriting the table (existing rows read
the time of this migration). On PostgreSQL the indexes are built CONCURRENTLY, so bookings
go on while they are built; hence this migration is not atomic.
"""

import django.db.models.functions.datetime
from django.db import migrations, models


class AddIndexConcurrentlyOnPostgreSQL(migrations.AddIndex):
    """AddIndex, built without blocking writes where the database can (PostgreSQL)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, concurrently=True)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, concurrently=True)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("invitations", "0013_quota_result_and_booking_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="booking",
            name="updated_at",
            field=models.DateTimeField(
                db_default=django.db.models.functions.datetime.Now(), editable=False
            ),
        ),
        migrations.AddField(
            model_name="invitationcode",
            name="updated_at",
            field=models.DateTimeField(
                db_default=django.db.models.functions.datetime.Now(), editable=False
            ),
        ),
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="booking",
            index=models.Index(fields=["updated_at", "id"], name="booking_updated_id"),
        ),
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="invitationcode",
            index=models.Index(fields=["updated_at", "id"], name="code_updated_id"),
        ),
    ]
