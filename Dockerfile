# Naravard production image: gunicorn for the web, the same image for Celery.
FROM python:3.11-slim

# PYTHONPATH: import the project from /app, where its templates, static files and
# migrations are (the installed package is for the dependencies).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    DJANGO_SETTINGS_MODULE=naravard.settings

# gettext: msgfmt for compilemessages.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 naravard \
    && useradd --system --uid 10001 --gid naravard --home-dir /app --shell /usr/sbin/nologin naravard

WORKDIR /app
COPY . .
RUN pip install .

# Build-time assets; DEBUG is off and no database is needed for these. The settings
# refuse to start without a SECRET_KEY; these two steps sign nothing, so a throwaway one
# (not kept in the image) will do. The containers get theirs from docker-compose.yml.
RUN export SECRET_KEY="build-only-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    && if ls -d locale */locale >/dev/null 2>&1; then python manage.py compilemessages; fi \
    && python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /app/var \
    && chown naravard:naravard /app/var

# The code stays root-owned and read-only for the app; only var/ is writable.
USER naravard
EXPOSE 8000
CMD ["gunicorn", "naravard.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-", "--timeout", "30", "--graceful-timeout", "30", "--keep-alive", "5"]
