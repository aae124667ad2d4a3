from django.db import migrations

from naravard.dbutil import append_only_trigger

forwards, backwards = append_only_trigger("contracts_event")


class Migration(migrations.Migration):
    dependencies = [("contracts", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
