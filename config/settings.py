"""Voucherdesk settings: everything that varies between machines comes from the environment.

The defaults are the embedded mode: SQLite, no broker (Celery runs tasks in-process),
local-memory cache, console email. Production sets DATABASE_URL, CELERY_BROKER_URL,
CACHE_URL, EMAIL_URL, SECRET_KEY, ALLOWED_HOSTS and DEBUG=False.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG=False.")
    SECRET_KEY = "embedded-mode-only-not-a-secret"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "import_export",
    "simple_history",
    "django_celery_beat",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "core",
    "contracts",
    "invitations",
    "wallets",
    "passes",
    "referrals",
    "campaigns",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.timezones.UserTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Connections are kept a minute: opening one per request doubled PostgreSQL's work per
# redemption (a new backend with cold caches); health checks drop a broken one.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
# Prepared statements on PostgreSQL: "hot" (default) prepares the few statements every
# redemption runs (core/db.py), planned once per kept connection; "all" binds every query
# on the server so psycopg prepares any statement run twice (a statement may then carry at
# most 65,535 parameters, which a large import exceeds); "off" prepares nothing, for a
# pooler in transaction mode that cannot keep them.
PREPARED_STATEMENTS = env.str("DATABASE_PREPARED_STATEMENTS", default="hot").lower()
if PREPARED_STATEMENTS not in ("hot", "all", "off"):
    raise ImproperlyConfigured("DATABASE_PREPARED_STATEMENTS must be hot, all or off.")
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    options = DATABASES["default"].setdefault("OPTIONS", {})
    if PREPARED_STATEMENTS == "all":
        options.update({"server_side_binding": True, "prepare_threshold": 2})
    elif PREPARED_STATEMENTS == "hot":
        # Django's own cursors bind on the client and never prepare; psycopg prepares
        # only what asks for it (prepare=True) once a threshold is set at all.
        options.setdefault("prepare_threshold", 2**31 - 1)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the page read while a background batch writes; the timeout waits for a
    # writer instead of failing at once with "database is locked". IMMEDIATE: a
    # transaction takes the write lock when it begins, so two that read then write (two
    # workers on one send: SQLite has no SKIP LOCKED) run one after the other.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Voucherdesk <noreply@localhost>")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "admin:login"
# A form posted without its CSRF token gets a page that says what to do, not Django's.
CSRF_FAILURE_VIEW = "invitations.views.register.csrf_failure"
LOGIN_REDIRECT_URL = "contracts:organisation_list"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "media/"

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Celery: without a broker, tasks run eagerly in the calling process (embedded mode).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ROUTES = {
    # Exact names win over the patterns: a confirmation email never waits for a batch.
    "invitations.tasks.send_booking_confirmation": {"queue": "default"},
    "invitations.tasks.*": {"queue": "generation"},
    "passes.tasks.*": {"queue": "generation"},
    # Sending a distribution is long bulk work too: it never holds up a confirmation email.
    "campaigns.tasks.send_distribution": {"queue": "generation"},
    # So is counting a big contract's analytics (seconds of queries).
    "campaigns.tasks.count_analytics": {"queue": "generation"},
    "campaigns.tasks.count_contract_analytics": {"queue": "generation"},
    "referrals.tasks.*": {"queue": "default"},
    "core.tasks.*": {"queue": "default"},
}
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE

# Code generation: batches up to this size finish in the request; larger ones run in
# the background with a progress bar.
CODE_BATCH_SYNC_LIMIT = env.int("CODE_BATCH_SYNC_LIMIT", default=10_000)
# Analytics: a contract with at least this many codes is read from its rollup, counted in
# the background (campaigns.services.analytics); smaller ones are counted on each view.
ANALYTICS_ROLLUP_FROM_CODES = env.int("ANALYTICS_ROLLUP_FROM_CODES", default=100_000)
CODE_BATCH_MAX_QUANTITY = 1_000_000
# PostgreSQL connections a large batch inserts over at once (index maintenance uses a core each).
GENERATION_CONNECTIONS = env.int("GENERATION_CONNECTIONS", default=2)

# Participant CSV imports: files up to this size and row count; files with more rows than
# PARTICIPANT_IMPORT_SYNC_ROWS are checked and imported in the background.
PARTICIPANT_IMPORT_MAX_BYTES = env.int("PARTICIPANT_IMPORT_MAX_BYTES", default=20 * 1000 * 1000)
PARTICIPANT_IMPORT_MAX_ROWS = env.int("PARTICIPANT_IMPORT_MAX_ROWS", default=200_000)
PARTICIPANT_IMPORT_SYNC_ROWS = env.int("PARTICIPANT_IMPORT_SYNC_ROWS", default=2_000)

# The API at /api/v1/: token authentication (Authorization: Token …) for systems, the
# session for staff trying it in the browser; the OpenAPI schema at /api/schema/.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.auth.PreparedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # API clients redeeming codes are limited per token (not locked out by refusals).
    "DEFAULT_THROTTLE_RATES": {
        "codes": env.str("CODES_API_RATE", default="1200/min"),
        # The CRM sync API, per organisation API token.
        "crm": env.str("CRM_API_RATE", default="600/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Voucherdesk API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "ENUM_NAME_OVERRIDES": {
        "PassStatusEnum": "passes.models.Pass.Status",
        "PassChangeStatusEnum": [("active", "active"), ("cancelled", "cancelled")],
    },
}

# Proxies in front of the app that append to X-Forwarded-For (a load balancer: 1); the
# client address for throttling is read from there. 0: REMOTE_ADDR is the client.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# The public address of the site, for links printed on passes and sent in emails.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Pass PINs are stored as HMAC-SHA256 with this key, which is not in the database.
# Default: derived from SECRET_KEY; set it to keep PINs valid across SECRET_KEY rotations.
PIN_HASH_KEY = env.str("PIN_HASH_KEY", default="") or f"pins:{SECRET_KEY}"
# The public registration page: after this many failed attempts from one address (or on
# one code) within the window, in seconds, attempts are refused until the window ends.
REGISTER_FAILURE_LIMIT = env.int("REGISTER_FAILURE_LIMIT", default=10)
REGISTER_CODE_FAILURE_LIMIT = env.int("REGISTER_CODE_FAILURE_LIMIT", default=20)
REGISTER_FAILURE_WINDOW = env.int("REGISTER_FAILURE_WINDOW", default=600)
# Anomaly alerts (campaigns), found every minute in the redemption log's last
# ALERT_WINDOW_MINUTES: ALERT_FAILED_BURST failed attempts from one address in the window;
# ALERT_ADDRESS_REDEMPTIONS bookings from one address in the window; ALERT_PARTICIPANT_
# REDEMPTIONS bookings by one participant in a day; a contract's bookings today at least
# ALERT_SPIKE_MIN and ALERT_SPIKE_FACTOR times its daily average over the previous 14 days.
ALERT_WINDOW_MINUTES = env.int("ALERT_WINDOW_MINUTES", default=10)
ALERT_FAILED_BURST = env.int("ALERT_FAILED_BURST", default=15)
ALERT_ADDRESS_REDEMPTIONS = env.int("ALERT_ADDRESS_REDEMPTIONS", default=5)
ALERT_PARTICIPANT_REDEMPTIONS = env.int("ALERT_PARTICIPANT_REDEMPTIONS", default=3)
ALERT_SPIKE_FACTOR = env.float("ALERT_SPIKE_FACTOR", default=3.0)
ALERT_SPIKE_MIN = env.int("ALERT_SPIKE_MIN", default=20)
for _name in (
    "ALERT_WINDOW_MINUTES",
    "ALERT_FAILED_BURST",
    "ALERT_ADDRESS_REDEMPTIONS",
    "ALERT_PARTICIPANT_REDEMPTIONS",
    "ALERT_SPIKE_FACTOR",
    "ALERT_SPIKE_MIN",
):
    if vars()[_name] <= 0:
        raise ImproperlyConfigured(f"{_name} must be more than 0.")
# The payment step of the gift landing page; the default takes no money (test mode).
PASS_PAYMENT_BACKEND = env.str("PASS_PAYMENT_BACKEND", default="passes.payments.TestPayments")
# With DEBUG=False the test payment step sells nothing unless this is set, knowingly.
PASS_TEST_PAYMENTS = env.bool("PASS_TEST_PAYMENTS", default=False)
# Processes that render a long PDF side by side (WeasyPrint holds one core each).
PDF_PROCESSES = env.int("PDF_PROCESSES", default=2)
# Printed pass plans up to this quantity are generated in the request; larger in the background.
PASS_BATCH_SYNC_LIMIT = env.int("PASS_BATCH_SYNC_LIMIT", default=2_000)

# The CRM change feeds list a change once it is this many seconds old (core.feeds.horizon).
CRM_FEED_LAG = env.float("CRM_FEED_LAG", default=2.0)
if CRM_FEED_LAG < 0:
    raise ImproperlyConfigured("CRM_FEED_LAG must be 0 or more seconds.")

# Outbound webhooks: seconds a receiver has to answer, attempts before a delivery is
# marked failed, and the first retry's delay in seconds (doubled after each failure).
WEBHOOK_TIMEOUT = env.int("WEBHOOK_TIMEOUT", default=5)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
WEBHOOK_RETRY_BASE = env.int("WEBHOOK_RETRY_BASE", default=30)
# Webhook endpoints are typed in by staff: only public addresses, unless the receivers are on
# this installation's own network (core/netguard.py).
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env.bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", default=False)
# Referral programs: how long an email confirmation link and an instant signup link work.
REFERRAL_CONFIRM_DAYS = env.int("REFERRAL_CONFIRM_DAYS", default=7)
REFERRAL_JOIN_LINK_DAYS = env.int("REFERRAL_JOIN_LINK_DAYS", default=30)
REFERRER_IMPORT_MAX_BYTES = env.int("REFERRER_IMPORT_MAX_BYTES", default=20 * 1000 * 1000)
REFERRER_IMPORT_MAX_ROWS = env.int("REFERRER_IMPORT_MAX_ROWS", default=200_000)
# The public referral pages: signups allowed per address within REGISTER_FAILURE_WINDOW.
REFERRAL_SIGNUP_RATE_LIMIT = env.int("REFERRAL_SIGNUP_RATE_LIMIT", default=20)

# Distribution of codes (campaigns): messages per second a send goes out at, over all its
# recipients (0: as fast as the email server or SMS provider takes them).
CAMPAIGN_SEND_RATE = env.float("CAMPAIGN_SEND_RATE", default=50)
if CAMPAIGN_SEND_RATE < 0:
    raise ImproperlyConfigured("CAMPAIGN_SEND_RATE must be 0 (no limit) or more.")
# Text messages: the backend (core.notifications: ConsoleSMSBackend prints them,
# LocmemSMSBackend keeps them for tests, HttpSMSBackend posts them to a provider).
SMS_BACKEND = env.str("SMS_BACKEND", default="core.notifications.ConsoleSMSBackend")
# HttpSMSBackend: the provider's URL, its bearer token, seconds to wait for an answer, and
# the sender name or number (sent as "from" when set).
SMS_HTTP_URL = env.str("SMS_HTTP_URL", default="")
SMS_HTTP_TOKEN = env.str("SMS_HTTP_TOKEN", default="")
SMS_HTTP_TIMEOUT = env.int("SMS_HTTP_TIMEOUT", default=10)
SMS_FROM = env.str("SMS_FROM", default="")
# The token the SMS provider sends with each reply it posts to /api/v1/sms/inbound (a STOP
# opts the sender out); empty: that endpoint is off.
SMS_INBOUND_TOKEN = env.str("SMS_INBOUND_TOKEN", default="")
if SMS_BACKEND == "core.notifications.HttpSMSBackend" and not SMS_HTTP_URL:
    raise ImproperlyConfigured("SMS_BACKEND is the HTTP backend: set SMS_HTTP_URL too.")

IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "add"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # WeasyPrint logs every rendering step at INFO.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}
