"""When an organisation, a person and a membership last changed: the FHIR Organization's,
Practitioner's and PractitionerRole's meta.lastUpdated and version (fhir_r4.versions).
Existing rows start from when they were created: no later change is known."""

import django.utils.timezone
from django.db import migrations, models


def _updated_at():
    return models.DateTimeField(
        auto_now=True, default=django.utils.timezone.now, verbose_name="updated"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("actors", "0007_apiclient_may_introspect"),
    ]

    operations = [
        migrations.AddField(
            model_name="organisation",
            name="updated_at",
            field=_updated_at(),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="user",
            name="updated_at",
            field=_updated_at(),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="membership",
            name="updated_at",
            field=_updated_at(),
            preserve_default=False,
        ),
        migrations.RunSQL(
            [
                "UPDATE actors_organisation SET updated_at = created_at",
                "UPDATE actors_user SET updated_at = date_joined",
                "UPDATE actors_membership SET updated_at = created_at",
            ],
            migrations.RunSQL.noop,
        ),
    ]
