"""Settings, all read from the environment.

With nothing set the system runs on its embedded default: SQLite, Celery tasks executed eagerly,
a local-memory cache and development-only keys. ``DJANGO_ENV=production`` refuses to start
without real secrets and turns on every transport and cookie protection.
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"

# Development-only secrets: published in this repository, so never valid in production.
_DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production-0123456789"  # noqa: S105
_DEV_FIELD_ENCRYPTION_KEY = "ZGV2LW9ubHktZmllbGQta2V5LWRvLW5vdC11c2UhISE="
_DEV_BLIND_INDEX_KEY = "dev-only-blind-index-key-do-not-use-in-production"
_DEV_AUDIT_CHAIN_KEY = "dev-only-audit-chain-key-do-not-use-in-production"

if PRODUCTION:
    _missing = [
        name
        for name in (
            "SECRET_KEY",
            "FIELD_ENCRYPTION_KEYS",
            "BLIND_INDEX_KEY",
            "AUDIT_CHAIN_KEYS",
            "AUDIT_CHECKPOINT_PATH",
            "ALLOWED_HOSTS",
        )
        if not env.str(name, default="")
    ]
    if _missing:
        raise ImproperlyConfigured(
            "DJANGO_ENV=production needs these environment variables: " + ", ".join(_missing)
        )

SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# How many reverse proxies stand in front of the app and append to X-Forwarded-For; the
# client address in the audit log is read that many entries from the right. 0: REMOTE_ADDR.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Identity-field encryption: the first key encrypts, every key decrypts (rotation).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[_DEV_FIELD_ENCRYPTION_KEY])
BLIND_INDEX_KEY = env.str("BLIND_INDEX_KEY", default=_DEV_BLIND_INDEX_KEY)
PHONE_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", default="IQ")
# The audit chain's HMAC keys (cases/services/audit_chain.py), newest first: the first chains
# new events and signs checkpoints, every key verifies what it chained (rotation). Signed
# checkpoints of the chain are appended to AUDIT_CHECKPOINT_PATH (a file on another volume,
# append-only; empty: the process log only) every AUDIT_CHECKPOINT_SECONDS by beat.
AUDIT_CHAIN_KEYS = [
    key.strip()
    for key in env.list("AUDIT_CHAIN_KEYS", default=[_DEV_AUDIT_CHAIN_KEY])
    if key.strip()
]
AUDIT_CHECKPOINT_PATH = env.str("AUDIT_CHECKPOINT_PATH", default="")
AUDIT_CHECKPOINT_SECONDS = env.int("AUDIT_CHECKPOINT_SECONDS", default=10 * 60)

if PRODUCTION and (
    SECRET_KEY == _DEV_SECRET_KEY
    or _DEV_FIELD_ENCRYPTION_KEY in FIELD_ENCRYPTION_KEYS
    or BLIND_INDEX_KEY == _DEV_BLIND_INDEX_KEY
    or _DEV_AUDIT_CHAIN_KEY in AUDIT_CHAIN_KEYS
):
    raise ImproperlyConfigured("DJANGO_ENV=production refuses the development keys.")
# A key of its own: whoever learns SECRET_KEY or BLIND_INDEX_KEY must not be able to
# recompute the audit chain; and long enough that it cannot be guessed.
if PRODUCTION and (
    not AUDIT_CHAIN_KEYS
    or any(key in (SECRET_KEY, BLIND_INDEX_KEY) or len(key) < 32 for key in AUDIT_CHAIN_KEYS)
):
    raise ImproperlyConfigured(
        "AUDIT_CHAIN_KEYS must be keys of their own (not SECRET_KEY or BLIND_INDEX_KEY), "
        "each at least 32 characters long."
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "cases",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Near the top, so every response below it carries the Content-Security-Policy header.
    "cases.csp.CSPMiddleware",
    # Early, so that a failure in any later middleware (reading the session from a database
    # that is down, say) is logged and answered under the request's id.
    "cases.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "cases.middleware.SessionLifetimeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout raised during login into its response.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First, so a locked-out username is refused before its password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

if PRODUCTION:
    # gunicorn serves the collected static files itself; runserver does it in development.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "reintegration.urls"
WSGI_APPLICATION = "reintegration.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Project-wide overrides of third-party templates (drf-spectacular's API docs pages),
        # searched before the apps' own templates.
        "DIRS": [BASE_DIR / "reintegration" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "cases.web.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60 if PRODUCTION else 0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent writers wait instead of failing at once.
    # Writers take the lock when their transaction starts, so a transaction that read first
    # never fails half-way with "database is locked"; concurrent writers wait their turn.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            # Django's Redis cache, failing open: with Redis down a read is a miss and a write
            # is dropped, so requests are served (without rate limits) instead of failing.
            "BACKEND": "reintegration.cache.FailOpenRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="reintegration"),
            "OPTIONS": {
                # A Redis that stops answering must not stall requests (throttling, /health/).
                "socket_connect_timeout": 2,
                "socket_timeout": 2,
                # After a failure Redis is not asked again for this long: one request waits
                # the timeout on a hanging Redis, not every request.
                "circuit_seconds": env.float("CACHE_CIRCUIT_SECONDS", default=5.0),
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: Redis when configured, otherwise tasks run in-process at once.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
# JSON only: a message is data (ids), never pickled code, and can be read in the broker.
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# --- No lost work. Every task in cases/tasks.py is idempotent and carries ids only,
# so running one twice changes nothing twice; what must never happen is running it zero times.
# Acknowledge a message only once its task has finished: a worker that dies mid-task leaves the
# message in Redis, which hands it out again after the visibility timeout below.
CELERY_TASK_ACKS_LATE = True
# A pool process killed mid-task (SIGKILL, out of memory) puts its message back in the queue
# instead of marking the task failed.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Each worker process reserves one message at a time: a worker that dies strands no more than
# the one it was running, and a long job does not hold messages another worker could run.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A running task whose acknowledgement can no longer reach the broker is cancelled, so its
# message is delivered again rather than silently lost (Celery 6's default, chosen now).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# The worker retries connecting to Redis at start-up instead of exiting.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A backstop, not the fix: the whole-caseload jobs stream and batch their work so
# that no pool process passes 200 MB at 100,000 cases (`make bench` reports it). Should one
# still pass this many kilobytes of resident memory, it finishes its task and is replaced by
# a fresh process. 0 turns it off.
CELERY_WORKER_MAX_MEMORY_PER_CHILD = (
    env.int("CELERY_WORKER_MAX_MEMORY_PER_CHILD", default=200_000) or None
)
# Retries (the shared base task of cases/tasks.py): on any error a task is retried up to
# MAX_RETRIES times, each after a random wait between 0 and BACKOFF * 2**retry seconds (full
# jitter, so retries from many tasks spread out), never more than BACKOFF_MAX; after the last
# one it is dead-lettered as a FailedTask row that staff see and can retry.
CELERY_TASK_MAX_RETRIES = env.int("CELERY_TASK_MAX_RETRIES", default=6)
CELERY_TASK_RETRY_BACKOFF_SECONDS = env.int("CELERY_TASK_RETRY_BACKOFF_SECONDS", default=10)
CELERY_TASK_RETRY_BACKOFF_MAX_SECONDS = env.int(
    "CELERY_TASK_RETRY_BACKOFF_MAX_SECONDS", default=600
)
# A task still running after the soft limit gets an exception (and is retried); after the hard
# limit its process is replaced. 0 turns a limit off (tests only: the visibility timeout below
# no longer bounds a task's run time then).
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=25 * 60) or None
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=30 * 60) or None
# Redis hands an unacknowledged message out again after the visibility timeout. It must outlast
# the longest a healthy message stays unacknowledged — a retry waiting for its countdown (at most
# BACKOFF_MAX), then running (at most the hard time limit) — or healthy tasks would run twice.
# We publish no ETA or countdown of our own: the outbox keeps its schedule in the database.
CELERY_VISIBILITY_TIMEOUT_SECONDS = env.int("CELERY_VISIBILITY_TIMEOUT_SECONDS", default=2 * 3600)
_longest_unacked = CELERY_TASK_RETRY_BACKOFF_MAX_SECONDS + (CELERY_TASK_TIME_LIMIT or 0)
if _longest_unacked >= CELERY_VISIBILITY_TIMEOUT_SECONDS:
    raise ImproperlyConfigured(
        "CELERY_VISIBILITY_TIMEOUT_SECONDS must be longer than the longest retry wait plus the "
        f"task time limit ({_longest_unacked} s), or healthy tasks would run twice."
    )
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT_SECONDS,
    # How often a worker looks for messages whose visibility timeout has passed (those of a
    # worker that died) and puts them back in the queue: every interval * throttle seconds.
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL_SECONDS", default=10),
    "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=10),
    # Publishing does not wait for a broker that is down or unreachable: one connection
    # attempt, bounded in time (a request that queues a task after its commit answers at once;
    # what it queued waits in the outbox for the dispatcher). The worker's own reconnecting
    # and Celery's publish retries are separate and unchanged.
    "max_retries": 0,
    "socket_connect_timeout": 2,
    # A Redis that hangs without closing the connection (frozen, failing over, a firewall
    # dropping it) would hold a publishing request forever. Longer than the 1 s BRPOP a
    # worker's consumer waits on, so an idle worker never times out.
    "socket_timeout": env.float("CELERY_BROKER_SOCKET_TIMEOUT", default=5.0),
}
# The same for the result store (Celery's default read timeout there is 120 s).
CELERY_REDIS_SOCKET_TIMEOUT = env.float("CELERY_BROKER_SOCKET_TIMEOUT", default=5.0)
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2.0
# A connection attempt to a broker that is down gives up quickly: a request that queues a task
# after its commit must not hang (what it queued waits in the outbox for the dispatcher).
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
# /health/ reports beat as stale (status "degraded") when no periodic task has run for this
# long; the outbox dispatcher runs every minute and beat records its runs every few minutes.
CELERY_BEAT_STALE_AFTER_SECONDS = env.int("CELERY_BEAT_STALE_AFTER_SECONDS", default=15 * 60)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The competition summary of a large caseload (this many open cases or more) is served from
# the cache, refreshed by beat every WARM seconds and kept for CACHE seconds (longer, so a
# late refresh never leaves it cold). Smaller caseloads are always computed live.
# The CSV import's limits (rows and bytes of one file); beyond them the API answers 413.
IMPORT_MAX_ROWS = env.int("IMPORT_MAX_ROWS", default=50_000)
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=20 * 1024 * 1024)
COMPETITION_SUMMARY_CACHE_MIN_CASES = env.int("COMPETITION_SUMMARY_CACHE_MIN_CASES", default=1000)
COMPETITION_SUMMARY_WARM_SECONDS = env.int("COMPETITION_SUMMARY_WARM_SECONDS", default=5 * 60)
COMPETITION_SUMMARY_CACHE_SECONDS = env.int("COMPETITION_SUMMARY_CACHE_SECONDS", default=20 * 60)
# Installed into django-celery-beat's tables when beat starts; editable in the admin after.
CELERY_BEAT_SCHEDULE = {
    "audit-verify-nightly": {
        "task": "cases.audit_verify",
        "schedule": crontab(hour=2, minute=30),
    },
    "audit-checkpoint": {
        "task": "cases.audit_checkpoint",
        "schedule": float(AUDIT_CHECKPOINT_SECONDS),
    },
    # Webhooks and notification emails alike: retries, and whatever was committed while the
    # broker was down.
    "outbox-dispatch": {
        "task": "cases.outbox_dispatch",
        "schedule": 60.0,
    },
    "monitoring-plan-nightly": {
        "task": "cases.monitoring_plan",
        "schedule": crontab(hour=1, minute=0),
    },
    "contacts-mark-missed-hourly": {
        "task": "cases.contacts_mark_missed",
        "schedule": crontab(minute=5),
    },
    "missed-contacts-escalate-hourly": {
        "task": "cases.missed_contacts_escalate",
        "schedule": crontab(minute=20),
    },
    "threat-contexts-flag": {
        "task": "cases.threat_contexts_flag",
        "schedule": 15 * 60.0,
    },
    "retention-anonymise-nightly": {
        "task": "cases.retention_anonymise",
        "schedule": crontab(hour=4, minute=0),
    },
    "competition-snapshot-nightly": {
        "task": "cases.competition_snapshot",
        "schedule": crontab(hour=3, minute=0),
    },
    "competition-summaries-warm": {
        "task": "cases.competition_summaries_warm",
        "schedule": float(COMPETITION_SUMMARY_WARM_SECONDS),
    },
}

# Partner webhooks: delivery attempts before an event is dead-lettered, the request timeout,
# and whether private, loopback and plain-http addresses are allowed (never in production:
# a webhook URL must not reach into our own network).
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# An outbox message (webhook or email) being sent stays with its worker for three send
# timeouts plus this margin; only then may another worker send it again, and the first
# worker's attempt is logged as abandoned.
OUTBOX_LEASE_MARGIN_SECONDS = env.float("OUTBOX_LEASE_MARGIN_SECONDS", default=30.0)
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool(
    "WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=not PRODUCTION
)
if PRODUCTION and WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
    raise ImproperlyConfigured("WEBHOOK_ALLOW_PRIVATE_ADDRESSES cannot be on in production.")
CELERY_TIMEZONE = "UTC"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env.int("PASSWORD_MIN_LENGTH", default=12)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LOCALE_PATHS = [BASE_DIR / "locale"]


def languages_in(locale_dir: Path) -> list[tuple[str, str]]:
    """English plus every language with a catalogue under ``locale_dir``: adding a language
    takes only its ``locale/<code>/LC_MESSAGES/django.po`` file."""
    from django.conf.locale import LANG_INFO

    codes = sorted(p.parts[-3] for p in locale_dir.glob("*/LC_MESSAGES/django.po"))
    found = [code.replace("_", "-").lower() for code in codes]
    return [
        (code, LANG_INFO.get(code, {}).get("name_local", code))
        for code in ["en", *(c for c in found if c != "en")]
    ]


LANGUAGES = languages_in(BASE_DIR / "locale")
LANGUAGE_COOKIE_NAME = "language"
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"

# Two-factor login (django-otp): the issuer shown in authenticator apps.
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Reintegration")
# Lockout after repeated failures (django-axes), counted per username and address whether or
# not the account exists, so the answer never tells an attacker which usernames are real.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("LOGIN_LOCKOUT_HOURS", default=0.5)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# A wrong second-factor code counts like a wrong password (cases.services.accounts), and the
# count is reset only once both factors passed: a password alone must not buy new guesses.
AXES_RESET_ON_SUCCESS = False
# Never kept in axes' attempt rows (the password always is masked).
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "code", "csrfmiddlewaretoken"]
AXES_VERBOSE = False
# The same client address as the audit log (TRUSTED_PROXY_COUNT): a client cannot pick its
# own address in X-Forwarded-For to escape the lockout.
AXES_CLIENT_IP_CALLABLE = "cases.middleware.client_ip"
AXES_LOCKOUT_TEMPLATE = "web/account/locked_out.html"

# Sessions: an idle timeout (the expiry is renewed on every request) within an absolute cap.
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_TIMEOUT_SECONDS", default=30 * 60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_ABSOLUTE_LIFETIME_SECONDS = env.int("SESSION_ABSOLUTE_LIFETIME_SECONDS", default=12 * 3600)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Load balancers probe /health/ over plain http on the private network.
    SECURE_REDIRECT_EXEMPT = [r"^health/$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp, cases.csp.CSPMiddleware) on every response: a page loads
# scripts, styles, images, fonts and connections from this server only, runs no inline script
# and no eval, and cannot be framed. Nothing comes from another origin, so no third party learns
# who opened a page, and pages work offline. The API docs pages alone add a few sources their
# viewers need (cases/csp.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # The token class first: its Bearer challenge makes "not logged in" a 401.
        "cases.api.auth.StaffTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["cases.api.auth.IsStaff"],
    # JSON only: one request body per operation in the schema, so generated clients send JSON.
    # DRF's JSON parser, with a 400 for JSON nested too deep (cases/api/parsers.py).
    "DEFAULT_PARSER_CLASSES": ["cases.api.parsers.JSONParser"],
    # JSON answers only, to browsers too: DRF's browsable API pages rely on inline styles the
    # Content-Security-Policy blocks and link to another origin; /api/docs/ is the API's page.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "cases.api.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "cases.api.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "cases.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["cases.api.auth.StaffThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "staff": env.str("API_STAFF_RATE", default="600/min"),
        "partner": env.str("API_PARTNER_RATE", default="120/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Reintegration case management API",
    "DESCRIPTION": (
        "Staff endpoints under /api/v1/ (session or personal token) and partner NGO endpoints "
        "under /api/v1/partner/ (partner API key). People appear only as pseudonymous case "
        "numbers; identity fields are returned only by the audited reveal endpoint."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RiskLevelEnum": "cases.models.cases.RiskLevel",
        "StageEnum": "cases.models.cases.Stage",
        "OutcomeEnum": "cases.models.cases.Outcome",
        "PillarEnum": "cases.models.records.Pillar",
        "SeverityEnum": "cases.models.records.Severity",
        "ApprovalStatusEnum": "cases.models.approvals.ApprovalStatus",
        "PlanStatusEnum": "cases.models.approvals.PlanStatus",
        "EnrolmentStatusEnum": "cases.models.records.EnrolmentStatus",
        "ReferralStatusEnum": "cases.models.partners.ReferralStatus",
        "OutboxStatusEnum": "cases.models.partners.OutboxStatus",
        "ProfessionEnum": "cases.models.people.Profession",
        "FormerRoleEnum": "cases.models.people.FormerRole",
        "ThreatKindEnum": "cases.models.competition.ThreatKind",
        "IncidentKindEnum": "cases.models.records.IncidentKind",
    },
}

# Logs carry pseudonymous identifiers only: never identity values.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every line names the request it belongs to (X-Request-ID, quoted in a 500's body), or "-".
    "filters": {"request_id": {"()": "cases.log.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # The signed audit checkpoints: kept in the log whatever LOG_LEVEL, for log shipping.
    "loggers": {"cases.audit.checkpoint": {"level": "INFO"}},
}

# The reintegration survey: a fall of the overall score by at least this many points (0-100)
# since the case's previous survey notifies the team's supervisors.
SURVEY_SCORE_DROP_ALERT = env.int("SURVEY_SCORE_DROP_ALERT", default=10)

# Email, for staff notifications: EMAIL_URL such as smtp+tls://user:password@host:587
# (django-environ's schemes; filemail:///path writes files, consolemail:// prints). Development
# prints to the console; production must name its server.
if PRODUCTION and not env.str("EMAIL_URL", default=""):
    raise ImproperlyConfigured("DJANGO_ENV=production needs EMAIL_URL for notification emails.")
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="reintegration@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# The address staff reach the system at, for absolute links in emails ("" = paths only).
SITE_URL = env.str("SITE_URL", default="")

# Demo data (``manage.py seed_demo``) refuses to run in production.
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="demo-password-2026")
