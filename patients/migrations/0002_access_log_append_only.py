from django.db import migrations

from naravard.dbutil import append_only_trigger

forwards, backwards = append_only_trigger("patients_accesslogentry")


class Migration(migrations.Migration):
    dependencies = [("patients", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
