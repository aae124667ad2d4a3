"""Naravard settings: one module, read from the environment with safe local defaults.

The platform runs on PostgreSQL (DATABASE_URL) and Redis (REDIS_URL) everywhere.
Production sets both; without them the defaults are the embedded servers that
`make run` starts on this machine (naravard/localservices.py).
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from naravard import localservices

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# The development key is only good for a developer's machine (DEBUG=1): with it anyone
# could sign a session cookie or a password-reset link. Without DEBUG, refuse to start.
DEVELOPMENT_SECRET_KEY = "django-insecure-local-development-key-change-me"
SECRET_KEY = os.environ.get("SECRET_KEY", "").strip() or DEVELOPMENT_SECRET_KEY
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. With DEBUG off Naravard needs a secret key of its own: set "
        "SECRET_KEY in the environment to a long random value, e.g. the output of "
        "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'. Only a developer's "
        "machine (DEBUG=1) may run without one."
    )
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    # Django's admin, on a site that asks for the second factor (actors.admin_site).
    "actors.admin_site.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "oauth2_provider",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    # Second factor (TOTP, an authenticator app) for staff password logins.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "actors",
    "patients",
    "contracts",
    "coordination",
    "reminders",
    "push",
    "bench",
    # The project's own commands (migrate with its waits) and checks.
    "naravard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "naravard.middleware.NoStoreForLoggedInMiddleware",
    # Staff logged out after STAFF_IDLE_TIMEOUT idle; everyone after SESSION_COOKIE_AGE.
    "naravard.middleware.SessionLimitsMiddleware",
    # The login's assurance level, for every access-log row the request writes.
    "patients.access.AssuranceLevelMiddleware",
]

ROOT_URLCONF = "naravard.urls"
WSGI_APPLICATION = "naravard.wsgi.application"
ASGI_APPLICATION = "naravard.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            # Named here, not left to template_partials' app config, so that
            # "page.html#section" also resolves when the settings are re-read (tests).
            "loaders": [
                (
                    "template_partials.loader.Loader",
                    [
                        (
                            "django.template.loaders.cached.Loader",
                            [
                                "django.template.loaders.filesystem.Loader",
                                "django.template.loaders.app_directories.Loader",
                            ],
                        )
                    ],
                )
            ],
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Data -----------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.config(
        default=localservices.LOCAL_DATABASE_URL,
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
# Two roles (naravard.roles): migrations run as the owner, MIGRATION_DATABASE_URL, and
# grant DATABASE_URL's role, which everything else connects as, only what the app needs.
# Without MIGRATION_DATABASE_URL, one role does both (a developer's own database).
MIGRATION_DATABASE_URL = os.environ.get("MIGRATION_DATABASE_URL", "")
DATABASE_APP_ROLE = DATABASES["default"]["USER"] if MIGRATION_DATABASE_URL else ""
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must name a PostgreSQL database (postgres://...).")
# The API's hottest reads run as prepared statements (naravard.dbutil.PreparedStatement),
# each planned once per connection. Django's own cursors bind values on the client and
# never prepare, so neither setting below touches any other query. Off with
# DB_PREPARED_STATEMENTS=0 for a pooler that cannot keep them (PgBouncer in transaction
# mode before 1.21).
_options = DATABASES["default"].setdefault("OPTIONS", {})
_session = {
    # Every wait is bounded. A web request gives up on a row another transaction holds
    # after DB_LOCK_TIMEOUT and on any statement after DB_STATEMENT_TIMEOUT, and answers
    # 503 with Retry-After (naravard.faults); PostgreSQL ends a session left idle inside
    # a transaction, which would otherwise hold its locks and the change feed's cut.
    # Work that may take longer says so where it runs (naravard.dbutil.session_settings:
    # the sweeps, migrations, the bench and the demo's bulk data).
    "statement_timeout": os.environ.get("DB_STATEMENT_TIMEOUT", "10s"),
    "lock_timeout": os.environ.get("DB_LOCK_TIMEOUT", "3s"),
    "idle_in_transaction_session_timeout": os.environ.get("DB_IDLE_IN_TRANSACTION_TIMEOUT", "60s"),
}
if env_bool("DB_PREPARED_STATEMENTS", True):
    _options.setdefault("prepare_threshold", 5)
    # A plan for any values: PostgreSQL would otherwise keep re-planning them per call.
    _session["plan_cache_mode"] = "force_generic_plan"
_options.setdefault("options", " ".join(f"-c {name}={value}" for name, value in _session.items()))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "actors.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Redis: the Celery broker, and the cache that holds rate limits and short-lived state.
REDIS_URL = os.environ.get("REDIS_URL", localservices.LOCAL_REDIS_URL)
# Every wait on Redis is bounded in a few hundred milliseconds, so that a slow or hung
# Redis costs a request at most that, and each use has its answer when Redis fails:
# - the cache (the API's rate limits, naravard.oauth): the request goes on unthrottled,
#   and the failure is logged;
# - the login limits are not in Redis at all (PostgreSQL, actors.auth), so they never open;
# - the broker: publishing a task gives up (reminders.wake logs it); the work it would
#   wake is in the database, and beat's next tick finds it. /ready/ reports Redis down.
_REDIS_TIMEOUTS = {
    "socket_connect_timeout": float(os.environ.get("REDIS_CONNECT_TIMEOUT", "0.3")),
    "socket_timeout": float(os.environ.get("REDIS_TIMEOUT", "0.5")),
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": _REDIS_TIMEOUTS,
    }
}

# --- Language and time: Swedish first, English available ------------------
LANGUAGE_CODE = "sv"
LANGUAGES = [("sv", _("Swedish")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Stockholm"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
# Back to the login page, not the admin's "logged out" page.
LOGOUT_REDIRECT_URL = "login"

# Login methods offered on /login/, each an authentication backend. "email_code" is a
# one-time code by e-mail (actors.auth); "password" is for staff. E-legitimation (BankID,
# SITHS) comes from the OpenID Connect providers below, offered whenever one is set.
NARAVARD_LOGIN_METHODS = env_list("LOGIN_METHODS", "email_code,password")
# The same per role (actors.auth.login_methods_for): staff are people with an active
# membership, and is_staff/is_superuser users. A staff password login always asks for
# an authenticator code too; an e-mailed code alone is one factor, so staff do not get
# it unless LOGIN_METHODS_STAFF says so. With a staff identity provider
# (OIDC_STAFF_ISSUER) staff log in only through it; a superuser may always use
# password + authenticator code (the operator's way into the admin).
NARAVARD_LOGIN_METHODS_STAFF = env_list(
    "LOGIN_METHODS_STAFF", ",".join(m for m in NARAVARD_LOGIN_METHODS if m != "email_code")
)
NARAVARD_LOGIN_METHODS_CITIZEN = env_list("LOGIN_METHODS_CITIZEN", ",".join(NARAVARD_LOGIN_METHODS))

# OpenID Connect providers (e-legitimation), keyed by who logs in through them:
# "citizen" (patients and relatives; BankID/Freja, personnummer claim) and "staff"
# (SITHS/e-tjänstekort, HSA-id claim). Filled from the environment below (actors.oidc);
# a kind without a provider is simply not offered. See actors.assurance.idp_configured.
# Per kind (CITIZEN or STAFF): OIDC_<KIND>_ISSUER, _CLIENT_ID, _CLIENT_SECRET; optional
# _SCOPES (default "openid profile"), _ACR_VALUES (asked of the provider), and endpoint
# overrides _AUTHORIZATION_ENDPOINT, _TOKEN_ENDPOINT, _JWKS_URI, _USERINFO_ENDPOINT
# (else read from the issuer's /.well-known/openid-configuration at first use).
NARAVARD_OIDC_PROVIDERS: dict[str, dict] = {}
for _kind in ("citizen", "staff"):
    _prefix = f"OIDC_{_kind.upper()}_"
    if os.environ.get(_prefix + "ISSUER"):
        NARAVARD_OIDC_PROVIDERS[_kind] = {
            name.lower(): os.environ.get(_prefix + name, "")
            for name in (
                "ISSUER",
                "CLIENT_ID",
                "CLIENT_SECRET",
                "SCOPES",
                "ACR_VALUES",
                "AUTHORIZATION_ENDPOINT",
                "TOKEN_ENDPOINT",
                "JWKS_URI",
                "USERINFO_ENDPOINT",
            )
        }
        if not NARAVARD_OIDC_PROVIDERS[_kind]["client_id"]:
            raise ImproperlyConfigured(f"{_prefix}ISSUER is set: set {_prefix}CLIENT_ID too.")
_LOGIN_BACKENDS = {
    "email_code": "actors.auth.EmailCodeBackend",
    "password": "actors.auth.PasswordBackend",
}
AUTHENTICATION_BACKENDS = [
    _LOGIN_BACKENDS[m]
    for m in _LOGIN_BACKENDS
    if m in NARAVARD_LOGIN_METHODS_STAFF + NARAVARD_LOGIN_METHODS_CITIZEN
]
if _LOGIN_BACKENDS["password"] not in AUTHENTICATION_BACKENDS:
    # Still needed for permissions, and the admin's own login form uses a password.
    AUTHENTICATION_BACKENDS.append(_LOGIN_BACKENDS["password"])
if NARAVARD_OIDC_PROVIDERS:
    # One backend for both kinds; the callback names the kind (actors.oidc).
    AUTHENTICATION_BACKENDS.append("actors.oidc.OIDCBackend")
# Login limits (actors.limits), counted in PostgreSQL. Failed logins (a wrong password,
# e-mail code or authenticator code) per account: the first `account_free_failures` are
# free, then each further try waits, doubling from the first delay up to the cap; a
# login resets it. Failures per IP address in a fixed window, more generous (one
# address may be a whole ward). Requests for an e-mailed code, per address and per
# e-mail in a window (`window_seconds`, `per_ip`, `per_email`): each may send a mail.
NARAVARD_LOGIN_RATE_LIMITS = {
    "account_free_failures": int(os.environ.get("LOGIN_ACCOUNT_FREE_FAILURES", "5")),
    "account_first_delay_seconds": int(os.environ.get("LOGIN_ACCOUNT_FIRST_DELAY", "60")),
    "account_max_delay_seconds": int(os.environ.get("LOGIN_ACCOUNT_MAX_DELAY", "3600")),
    "account_forget_seconds": int(os.environ.get("LOGIN_ACCOUNT_FORGET_AFTER", "86400")),
    "ip_failures": int(os.environ.get("LOGIN_IP_FAILURES", "50")),
    "ip_window_seconds": int(os.environ.get("LOGIN_IP_WINDOW", "900")),
    "window_seconds": int(os.environ.get("LOGIN_RATE_WINDOW", "900")),
    "per_ip": int(os.environ.get("LOGIN_RATE_PER_IP", "30")),
    "per_email": int(os.environ.get("LOGIN_RATE_PER_EMAIL", "10")),
}
# Authenticator apps show this name next to the account.
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "Naravard")
# django-otp's own per-device throttle doubles without a cap (days after twenty wrong
# codes, and a stranger who knows the password could keep it there); the account's
# capped wait above covers authenticator codes instead.
OTP_TOTP_THROTTLE_FACTOR = 0
# How long a stated emergency reason (nödåtkomst) opens one patient's plan.
NARAVARD_EMERGENCY_ACCESS_SECONDS = int(os.environ.get("EMERGENCY_ACCESS_SECONDS", "3600"))
# How many patients one staff member may open with emergency access in a day (Stockholm
# time): a stated reason is no brake on opening one patient after another.
NARAVARD_EMERGENCY_ACCESS_DAILY_LIMIT = int(os.environ.get("EMERGENCY_ACCESS_DAILY_LIMIT", "5"))
# Raw-SQL floor views for `manage.py bench` (bench/urls.py); never in production.
NARAVARD_BENCH_VIEWS = env_bool("NARAVARD_BENCH_VIEWS", False)

# --- Mail and SMS -----------------------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(BASE_DIR / "var" / "mail"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Naravard <noreply@naravard.invalid>")
SMS_BACKEND = os.environ.get("SMS_BACKEND", "reminders.sms.ConsoleBackend")
SMS_FILE_PATH = os.environ.get("SMS_FILE_PATH", str(BASE_DIR / "var" / "sms"))
# Seconds the file backend waits after each message: a slow provider, for tests.
SMS_FILE_DELAY = float(os.environ.get("SMS_FILE_DELAY", "0"))

# The outbox sender (reminders.outbox): tries before a notification is marked failed,
# the first retry delay (doubled each time), how long a claim lasts before another
# worker may take the row over, and how many rows one claim takes.
OUTBOX_MAX_ATTEMPTS = int(os.environ.get("OUTBOX_MAX_ATTEMPTS", "5"))
OUTBOX_RETRY_BASE_SECONDS = float(os.environ.get("OUTBOX_RETRY_BASE_SECONDS", "60"))
OUTBOX_LEASE_SECONDS = float(os.environ.get("OUTBOX_LEASE_SECONDS", "300"))
OUTBOX_BATCH_SIZE = int(os.environ.get("OUTBOX_BATCH_SIZE", "20"))

# Push to integrations (push/, docs/push.md): failed attempts in a row before a
# subscription is turned off (its organisation's administrator turns it back on), the
# first retry delay (doubled each time, at most PUSH_RETRY_MAX_SECONDS), the claim's
# lease (longer than a batch of attempts at their longest waits), deliveries per claim,
# events read per subscription per fan-out, and the waits of one HTTP attempt.
# Plain http to a loopback receiver only where PUSH_ALLOW_LOOPBACK (DEBUG, tests).
PUSH_MAX_FAILURES = int(os.environ.get("PUSH_MAX_FAILURES", "12"))
PUSH_RETRY_BASE_SECONDS = float(os.environ.get("PUSH_RETRY_BASE_SECONDS", "60"))
PUSH_RETRY_MAX_SECONDS = float(os.environ.get("PUSH_RETRY_MAX_SECONDS", "21600"))
PUSH_LEASE_SECONDS = float(os.environ.get("PUSH_LEASE_SECONDS", "300"))
PUSH_BATCH_SIZE = int(os.environ.get("PUSH_BATCH_SIZE", "10"))
PUSH_FANOUT_BATCH = int(os.environ.get("PUSH_FANOUT_BATCH", "1000"))
PUSH_CONNECT_TIMEOUT = float(os.environ.get("PUSH_CONNECT_TIMEOUT", "5"))
PUSH_READ_TIMEOUT = float(os.environ.get("PUSH_READ_TIMEOUT", "10"))
PUSH_ALLOW_LOOPBACK = env_bool("PUSH_ALLOW_LOOPBACK", DEBUG)

# The reminder sweeps (reminders.sweeps): at most this many late commitments become
# follow-up tasks in one run, oldest first, so a backlog (a bulk import of late plans)
# is worked off in bounded runs that follow each other instead of in one long one.
SWEEP_LATE_BATCH = int(os.environ.get("SWEEP_LATE_BATCH", "50000"))
if SWEEP_LATE_BATCH < 1:
    raise ImproperlyConfigured("SWEEP_LATE_BATCH must be at least 1.")
# A sweep's statements cover every plan: they may run longer than a web request's, and
# wait longer for a row a writer holds, than the connection's defaults allow.
SWEEP_STATEMENT_TIMEOUT = os.environ.get("SWEEP_STATEMENT_TIMEOUT", "15min")
SWEEP_LOCK_TIMEOUT = os.environ.get("SWEEP_LOCK_TIMEOUT", "30s")
# Migrations: no statement limit (an index over the access log takes what it takes), but
# a bounded wait for their locks, so that a migration stuck behind a long transaction
# fails and is run again instead of holding every request queued behind its lock.
MIGRATION_LOCK_TIMEOUT = os.environ.get("MIGRATION_LOCK_TIMEOUT", "1min")

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, **_REDIS_TIMEOUTS}
CELERY_TASK_IGNORE_RESULT = True
# A task whose worker dies is handed out again; the outbox makes that harmless.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Publishing gives up fast when the broker is down (reminders.wake.enqueue logs it);
# due work lives in the database and the next beat tick picks it up.
CELERY_BROKER_CONNECTION_TIMEOUT = _REDIS_TIMEOUTS["socket_connect_timeout"]
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 0.5,
}
# The worker, unlike a web request, keeps trying until the broker is back.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Security ---------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", str(8 * 3600)))
# Staff sessions end after this many seconds without a request (naravard.middleware);
# patients and relatives keep only SESSION_COOKIE_AGE, counted from the login.
STAFF_IDLE_TIMEOUT = int(os.environ.get("STAFF_IDLE_TIMEOUT", "1800"))
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        # No plugins (<object>, <embed>): nothing on these pages needs them.
        "object-src": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
    }
}

# --- REST framework ---------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # The integrator API (api/, naravard/oauth.py, naravard/problems.py): problem-details
    # errors, OpenAPI, per-client limits.
    "EXCEPTION_HANDLER": "naravard.problems.problem_details_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {
        "api_read": os.environ.get("API_RATE_READ", "1200/min"),
        "api_write": os.environ.get("API_RATE_WRITE", "120/min"),
    },
}

# OAuth2 for integrators: client-credentials applications (one per ApiClient), short-lived
# tokens; client secrets are stored hashed (the toolkit's default).
OAUTH2_PROVIDER = {
    "SCOPES": {
        "read": _("Read plans"),
        "write": _("Change plans"),
        "introspection": _("Check tokens"),
    },
    "DEFAULT_SCOPES": ["read"],
    # `introspection` only for a client an operator allowed it (naravard.oauth).
    "SCOPES_BACKEND_CLASS": "naravard.oauth.ClientScopes",
    # Only an active integration's application authenticates (token, revocation).
    "OAUTH2_VALIDATOR_CLASS": "naravard.oauth.ApiClientValidator",
    "ACCESS_TOKEN_EXPIRE_SECONDS": int(os.environ.get("API_TOKEN_SECONDS", "3600")),
    # OAuth 2.0 Security BCP (RFC 9700): tokens hashed at rest, never in the URL, no
    # implicit or password grants, https redirects only; a regression fails check --deploy.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Naravard API",
    "DESCRIPTION": "The shared care plan (patientkontrakt) for integrators.",
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "PREPROCESSING_HOOKS": ["naravard.integrator.only_api_paths"],
    # Every status code each operation can answer, from one table (api.openapi.ERRORS).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
    ],
    "ENUM_NAME_OVERRIDES": {
        "ContractStatusEnum": "contracts.models.Contract.Status",
        "NextStepStatusEnum": "contracts.models.NextStep.Status",
        "CommitmentStatusEnum": "contracts.models.Commitment.Status",
        "ConsentStatusEnum": "patients.models.Consent.Status",
        "WebhookStatusEnum": "push.models.Subscription.Status",
    },
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and Redoc from the sidecar package: the docs never load from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
