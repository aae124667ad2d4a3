# Written by hand: only LoginCode, so that the API engineer's ApiClient migration
# can depend on this one.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("actors", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="LoginCode",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("code_hash", models.CharField(max_length=128, verbose_name="code hash")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created")),
                ("expires_at", models.DateTimeField(verbose_name="expires")),
                (
                    "attempts",
                    models.PositiveSmallIntegerField(default=0, verbose_name="wrong attempts"),
                ),
                ("used_at", models.DateTimeField(blank=True, null=True, verbose_name="used")),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="login_codes",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="user",
                    ),
                ),
            ],
            options={
                "verbose_name": "login code",
                "verbose_name_plural": "login codes",
                "indexes": [
                    models.Index(fields=["user", "-created_at"], name="logincode_user_recent")
                ],
            },
        ),
    ]
