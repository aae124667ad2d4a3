import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "naravard.settings")

from naravard.bodies import read_chunked_bodies  # noqa: E402 - after the settings module

# A chunked request body (no Content-Length) is read, not taken as empty (naravard.bodies).
application = read_chunked_bodies(get_wsgi_application())
