from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("actors", "0005_user_identities"),
    ]

    operations = [
        migrations.AddField(
            model_name="loginattemptcount",
            name="blocked_until",
            field=models.DateTimeField(blank=True, null=True, verbose_name="blocked until"),
        ),
    ]
