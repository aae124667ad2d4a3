from django.db import migrations, models

from naravard.dbutil import AddIndexConcurrently, RemoveIndexConcurrently

# The unseen late commitments are indexed (due_date, id), the order the sweep takes its
# batch in. The new index is built (concurrently on PostgreSQL) before the old one goes,
# so the sweep always has one; not atomic, so neither step locks the table.


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("contracts", "0007_partial_reference_indexes"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="commitment",
            index=models.Index(
                condition=models.Q(
                    ("due_date__isnull", False),
                    ("overdue_task_for__isnull", True),
                    ("status", "open"),
                ),
                fields=["due_date", "id"],
                name="commitment_late_unseen",
            ),
        ),
        RemoveIndexConcurrently(model_name="commitment", name="commitment_overdue_unseen"),
    ]
