import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from naravard.dbutil import AddIndexConcurrently, drop_indexes_concurrently

# References that most rows leave empty get partial indexes, built first (concurrently
# on PostgreSQL), then the single-column indexes Django made for them go, and the LIKE
# index Django makes beside the task's unique dedupe key, which no query uses.
#
# Only the indexes change: altering the fields in the database would drop and re-add
# their foreign keys, which re-checks every row (28 million commitments at 1 000 000
# plans). Not atomic: each index is built and dropped without locking the table.
OLD_INDEXES = [
    ("contracts_commitment_owner_staff_id_cc2dc1d5", '"contracts_commitment" ("owner_staff_id")'),
    (
        "contracts_commitment_owner_relative_id_1d2a4dbc",
        '"contracts_commitment" ("owner_relative_id")',
    ),
    (
        "contracts_commitment_completed_by_id_667c2d38",
        '"contracts_commitment" ("completed_by_id")',
    ),
    ("contracts_followuptask_next_step_id_f8f1dfcd", '"contracts_followuptask" ("next_step_id")'),
    (
        "contracts_followuptask_commitment_id_c5bcf3e0",
        '"contracts_followuptask" ("commitment_id")',
    ),
    ("contracts_followuptask_done_by_id_630b52c5", '"contracts_followuptask" ("done_by_id")'),
    (
        "contracts_followuptask_dedupe_key_6d05a41d_like",
        '"contracts_followuptask" ("dedupe_key" varchar_pattern_ops)',
    ),
]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("actors", "0003_apiclient"),
        ("contracts", "0006_overdue_task_marker"),
        ("patients", "0004_access_log_references"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="commitment",
            index=models.Index(
                condition=models.Q(("owner_staff__isnull", False)),
                fields=["owner_staff"],
                name="commitment_owner_staff",
            ),
        ),
        AddIndexConcurrently(
            model_name="commitment",
            index=models.Index(
                condition=models.Q(("owner_relative__isnull", False)),
                fields=["owner_relative"],
                name="commitment_owner_relative",
            ),
        ),
        AddIndexConcurrently(
            model_name="commitment",
            index=models.Index(
                condition=models.Q(("completed_by__isnull", False)),
                fields=["completed_by"],
                name="commitment_completed_by",
            ),
        ),
        AddIndexConcurrently(
            model_name="followuptask",
            index=models.Index(
                condition=models.Q(("next_step__isnull", False)),
                fields=["next_step"],
                name="follow_up_next_step",
            ),
        ),
        AddIndexConcurrently(
            model_name="followuptask",
            index=models.Index(
                condition=models.Q(("commitment__isnull", False)),
                fields=["commitment"],
                name="follow_up_commitment",
            ),
        ),
        AddIndexConcurrently(
            model_name="followuptask",
            index=models.Index(
                condition=models.Q(("done_by__isnull", False)),
                fields=["done_by"],
                name="follow_up_done_by",
            ),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(*drop_indexes_concurrently(*OLD_INDEXES))],
            state_operations=[
                migrations.AlterField(
                    model_name="commitment",
                    name="completed_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="commitment",
                    name="owner_relative",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="commitments",
                        to="patients.relative",
                        verbose_name="relative",
                    ),
                ),
                migrations.AlterField(
                    model_name="commitment",
                    name="owner_staff",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="commitments",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="staff member",
                    ),
                ),
                migrations.AlterField(
                    model_name="followuptask",
                    name="commitment",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="contracts.commitment",
                    ),
                ),
                migrations.AlterField(
                    model_name="followuptask",
                    name="done_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="followuptask",
                    name="next_step",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="contracts.nextstep",
                    ),
                ),
            ],
        ),
    ]
