"""Settings of the demo identity provider (demo_idp): its own process and database.

From the environment:
- DEMO_IDP_DATABASE_URL: its PostgreSQL database (`make run` makes `<naravard db>_idp`);
- DEMO_IDP_URL: where it answers, e.g. http://127.0.0.1:8001; the issuer is that + /o;
- DEMO_IDP_KEY_FILE: its RSA signing key (PEM), made at first start and kept
  (default var/demo_idp/signing_key.pem);
- SECRET_KEY, DEBUG.
"""

import os
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from .keys import load_or_create_key

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = os.environ.get("DEBUG", "").lower() in {"1", "true", "yes", "on"}
SECRET_KEY = os.environ.get("DEMO_IDP_SECRET_KEY", "django-insecure-demo-idp-only")
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
DEMO_IDP_URL = os.environ.get("DEMO_IDP_URL", "http://127.0.0.1:8001").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oauth2_provider",
    "demo_idp",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "demo_idp.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
            ]
        },
    }
]
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DEMO_IDP_DATABASE_URL", "postgres://postgres@127.0.0.1:54329/naravard_idp")
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "sv"
LANGUAGES = [("sv", _("Swedish")), ("en", _("English"))]
# The project's catalogue: the provider's few strings are translated with Naravard's.
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Stockholm"
USE_I18N = True
USE_TZ = True

LOGIN_URL = "sign"
# Browsers keep cookies per host, not per port: next to Naravard on the same host, the
# provider's cookies must have names of their own or each would log the other out.
SESSION_COOKIE_NAME = "demo_idp_session"
CSRF_COOKIE_NAME = "demo_idp_csrftoken"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_ISS_ENDPOINT": f"{DEMO_IDP_URL}/o",
    "OIDC_RSA_PRIVATE_KEY": load_or_create_key(
        Path(os.environ.get("DEMO_IDP_KEY_FILE", BASE_DIR / "var" / "demo_idp" / "signing_key.pem"))
    ),
    "OAUTH2_VALIDATOR_CLASS": "demo_idp.validator.DemoValidator",
    "SCOPES": {"openid": _("Who you are"), "profile": _("Your name")},
    "PKCE_REQUIRED": True,
    # A local demo over plain HTTP; a real provider is https only.
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
    "ID_TOKEN_EXPIRE_SECONDS": 300,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
