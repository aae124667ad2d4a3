from django.db import migrations

from naravard.dbutil import no_truncate_trigger

forwards, backwards = no_truncate_trigger("patients_accesslogentry")


class Migration(migrations.Migration):
    dependencies = [("patients", "0004_access_log_references")]
    operations = [migrations.RunPython(forwards, backwards)]
