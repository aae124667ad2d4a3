import django.db.models.deletion
from django.db import migrations, models

# The index Django made for the patient foreign key; the (patient, -at) index covers it.
PATIENT_INDEX = "patients_accesslogentry_patient_id_5634e161"


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0002_access_log_append_only"),
    ]

    operations = [
        # Only the index goes: altering the field would drop and re-add the foreign key,
        # which re-checks every row of a log kept for years.
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{PATIENT_INDEX}"',
                    f'CREATE INDEX "{PATIENT_INDEX}" ON "patients_accesslogentry" ("patient_id")',
                )
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="accesslogentry",
                    name="patient",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="access_log",
                        to="patients.patient",
                        verbose_name="patient",
                    ),
                )
            ],
        ),
        migrations.AddIndex(
            model_name="accesslogentry",
            index=models.Index(
                condition=models.Q(("emergency", True)),
                fields=["-at"],
                name="access_log_emergency",
            ),
        ),
    ]
