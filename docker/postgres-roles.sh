#!/bin/sh
# Runs once, when the database cluster is first made (docker-entrypoint-initdb.d): the
# app's own login role. It owns nothing; `migrate`, run as the owner (POSTGRES_USER),
# grants it what the app needs and no more (naravard/roles.py).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v app_password="$APP_DB_PASSWORD" <<'SQL'
CREATE ROLE naravard_app LOGIN PASSWORD :'app_password';
GRANT CONNECT ON DATABASE naravard TO naravard_app;
SQL
