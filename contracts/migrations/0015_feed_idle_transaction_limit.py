"""Every session in this database, not only the app's, is ended when it sits idle inside
a transaction for longer than DB_IDLE_IN_TRANSACTION_TIMEOUT (60 s by default).

The change feed waits for the oldest transaction still running in this database
(api.reads.FEED_CUT); the app's connections set the limit themselves
(naravard/settings.py), but a psql session or a script left open after BEGIN would
otherwise hold the feed back for as long as it stays open. A session may still set its
own value. Set on the database (ALTER DATABASE ... SET), which needs its owner: a
migration role that is not the owner leaves a notice and the operator sets it
(docs/operations.md)."""

import os
import re

from django.db import migrations

LIMIT = os.environ.get("DB_IDLE_IN_TRANSACTION_TIMEOUT", "60s").strip()
if not re.fullmatch(r"[0-9]{1,9}\s*(ms|s|min|h|d)?", LIMIT):
    raise ValueError(f"DB_IDLE_IN_TRANSACTION_TIMEOUT is not a duration: {LIMIT!r}")

SET = f"""
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET idle_in_transaction_session_timeout = %L',
                   current_database(), '{LIMIT}');
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'Not the database owner: set idle_in_transaction_session_timeout on the '
                 'database yourself (docs/operations.md).';
END $$;
"""

RESET = """
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I RESET idle_in_transaction_session_timeout',
                   current_database());
EXCEPTION WHEN insufficient_privilege THEN
    NULL;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("contracts", "0014_sharing_changed_notice"),
    ]

    operations = [migrations.RunSQL(sql=SET, reverse_sql=RESET)]
