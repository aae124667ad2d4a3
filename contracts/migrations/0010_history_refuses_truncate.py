from django.db import migrations

from naravard.dbutil import no_truncate_trigger

forwards, backwards = no_truncate_trigger("contracts_event", "contracts_notificationattempt")


class Migration(migrations.Migration):
    dependencies = [("contracts", "0009_event_kind_choices")]
    operations = [migrations.RunPython(forwards, backwards)]
