import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from naravard.dbutil import AddIndexConcurrently

# The log's references stop being database foreign keys: each one was checked, and the
# referenced row locked, at the commit of every logged read (a hundred patient rows for
# one change-feed page). Dropping a constraint re-checks nothing. The user index only
# holds staff reads, in the order an audit of one person's reads wants them.
#
# Not atomic: dropping a foreign key locks both its tables against reads until the
# transaction ends, so each step commits at once, and the new index is built
# concurrently on PostgreSQL (a log kept for years is the largest table).


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("actors", "0003_apiclient"),
        ("patients", "0003_access_log_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="accesslogentry",
            index=models.Index(
                condition=models.Q(("user__isnull", False)),
                fields=["user", "-at"],
                name="access_log_by_user",
            ),
        ),
        migrations.AlterField(
            model_name="accesslogentry",
            name="organisation",
            field=models.ForeignKey(
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                to="actors.organisation",
                verbose_name="organisation",
            ),
        ),
        migrations.AlterField(
            model_name="accesslogentry",
            name="patient",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="access_log",
                to="patients.patient",
                verbose_name="patient",
            ),
        ),
        migrations.AlterField(
            model_name="accesslogentry",
            name="user",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="read by",
            ),
        ),
    ]
