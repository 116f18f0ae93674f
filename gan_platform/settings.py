"""Django settings for Atelier, read from the environment.

(Over 500 lines: one place for every setting, in the order of the README's table, on purpose.)

Every setting has an embedded default that runs on one machine with nothing
else installed (SQLite, the filesystem Celery broker, local disk). Setting
``DATABASE_URL`` and ``REDIS_URL`` switches to PostgreSQL and Redis. The README
lists every variable; keep that table and this file in step.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent

T = TypeVar("T")


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def _env_parsed(name: str, default: T, parse: Callable[[str], T], expected: str) -> T:
    """``parse`` of the variable ``name``; ``default`` when it is unset or blank."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return parse(raw)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name}={raw!r} is not {expected}.") from error


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(raw)


def env_bool(name: str, default: bool) -> bool:
    return _env_parsed(name, default, _boolean, "a boolean: use 1/0, true/false, yes/no or on/off")


def env_int(name: str, default: int) -> int:
    return _env_parsed(name, default, int, "a whole number")


def env_float(name: str, default: float) -> float:
    return _env_parsed(name, default, float, "a number")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def redis_url_with_db(url: str, db: int) -> str:
    """Return ``url`` pointing at Redis database number ``db``."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def redis_base_db(url: str) -> int:
    path = urlsplit(url).path.strip("/")
    if not path:
        return 0
    try:
        return int(path)
    except ValueError as error:
        raise ImproperlyConfigured(
            f"REDIS_URL={url!r}: the path must be a database number, as in redis://host:6379/0."
        ) from error


# --- Core -----------------------------------------------------------------

DEBUG = env_bool("DJANGO_DEBUG", True)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set and DJANGO_DEBUG is off. Set DJANGO_SECRET_KEY to a long random "
            "string (python -c 'import secrets; print(secrets.token_urlsafe(50))'), or DJANGO_DEBUG=1 for development."
        )
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# Everything Atelier writes at run time lives under one folder.
VAR_DIR = Path(env_str("ATELIER_VAR_DIR", str(BASE_DIR / "var"))).resolve()
for _folder in ("", "broker/queue", "broker/processed", "broker/control", "uploads", "media", "private", "static"):
    (VAR_DIR / _folder).mkdir(parents=True, exist_ok=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "csp",
    "rest_framework",
    "rest_framework.authtoken",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "competitions",
    "submissions",
    "scoring",
    "judging",
    "discussion",
    "notifications",
    "gan_platform",  # its system checks only (gan_platform.checks)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last: turns a login that django-axes locked out into a 429 page or JSON error.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "gan_platform.urls"
WSGI_APPLICATION = "gan_platform.wsgi.application"
ASGI_APPLICATION = "gan_platform.asgi.application"

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

# --- Database ---------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 600),
            conn_health_checks=True,
        )
    }
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "db.sqlite3"}}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web server, workers and tests share one file: wait on locks rather than
    # fail, write-ahead log so readers never block the writer, and take the
    # write lock at BEGIN so a read-then-write transaction cannot deadlock.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file, not memory, for tests too: worker processes that tests start must
    # see the same database.
    DATABASES["default"].setdefault("TEST", {}).setdefault("NAME", str(VAR_DIR / "test-db.sqlite3"))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker and cache --------------------------------------------------

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    _redis_db = redis_base_db(REDIS_URL)
    CELERY_BROKER_URL = redis_url_with_db(REDIS_URL, _redis_db)
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url_with_db(REDIS_URL, _redis_db + 1),
            "KEY_PREFIX": "atelier",
        }
    }
else:
    CELERY_BROKER_URL = "filesystem://"
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "atelier"}}

# --- Celery -------------------------------------------------------------------
# Results live in the database; the broker only delivers messages, at least once.

# The longest a scoring task may run before it is killed; the phase may set less.
ATELIER_TASK_HARD_TIME_LIMIT = env_int("ATELIER_TASK_HARD_TIME_LIMIT", 3600)
# Redis re-delivers an unacknowledged message after this many seconds whether or
# not it still runs: keep it well above the hard limit (celery issue 5935).
ATELIER_BROKER_VISIBILITY_TIMEOUT = env_int("ATELIER_BROKER_VISIBILITY_TIMEOUT", 2 * ATELIER_TASK_HARD_TIME_LIMIT + 600)
if ATELIER_BROKER_VISIBILITY_TIMEOUT < 2 * ATELIER_TASK_HARD_TIME_LIMIT:
    raise ImproperlyConfigured(
        f"ATELIER_BROKER_VISIBILITY_TIMEOUT={ATELIER_BROKER_VISIBILITY_TIMEOUT} must be at least twice "
        f"ATELIER_TASK_HARD_TIME_LIMIT={ATELIER_TASK_HARD_TIME_LIMIT}, or Redis re-delivers running tasks."
    )

# The filesystem broker's folder; workers on other machines that use it need it shared (Redis is the
# broker for several machines; this is for tests and a single machine).
CELERY_BROKER_DIR = Path(env_str("ATELIER_BROKER_DIR", str(VAR_DIR / "broker"))).resolve()
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _folder in ("queue", "processed", "control"):
        (CELERY_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": ATELIER_BROKER_VISIBILITY_TIMEOUT}

CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The queue of everything but scoring (standings, notifications, the reconciler); tests give their worker its own.
CELERY_TASK_DEFAULT_QUEUE = env_str("ATELIER_DEFAULT_QUEUE", "default")
# The queue scoring tasks are sent to (tests give their worker a queue of its own); the services
# send them through submissions.sending, which reads it at send time.
ATELIER_GPU_QUEUE = env_str("ATELIER_GPU_QUEUE", "gpu")
CELERY_TASK_ROUTES = {"scoring.*": {"queue": ATELIER_GPU_QUEUE}}
CELERY_TASK_QUEUES = (Queue(ATELIER_GPU_QUEUE), Queue(CELERY_TASK_DEFAULT_QUEUE))
CELERY_TASK_TIME_LIMIT = ATELIER_TASK_HARD_TIME_LIMIT
CELERY_TASK_SOFT_TIME_LIMIT = max(ATELIER_TASK_HARD_TIME_LIMIT - 60, 1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict = {}


def _beat_on_default_queue(task: str, *, every: float, expires: int) -> dict:
    """A beat entry for ``task`` every ``every`` seconds on the default queue; a run not started
    within ``expires`` seconds is dropped (the next one is due soon after)."""
    return {"task": task, "schedule": every, "options": {"queue": CELERY_TASK_DEFAULT_QUEUE, "expires": expires}}


# Seconds a process reuses an anonymous response that its view marked shareable (Cache-Control:
# public): the public leaderboards (gan_platform.microcache). 0 turns it off (the tests do).
ATELIER_MICROCACHE_SECONDS = env_float("ATELIER_MICROCACHE_SECONDS", 0.5)

# --- Scoring pipeline (scoring app) ------------------------------------------------
# A worker's claim on a submission lasts this long unless its heartbeat extends it;
# the reconciler takes back a lease that expired (the worker died).
ATELIER_LEASE_SECONDS = env_int("ATELIER_LEASE_SECONDS", 120)
ATELIER_HEARTBEAT_SECONDS = env_int("ATELIER_HEARTBEAT_SECONDS", 20)
if not 0 < ATELIER_HEARTBEAT_SECONDS * 2 <= ATELIER_LEASE_SECONDS:
    raise ImproperlyConfigured(
        f"ATELIER_HEARTBEAT_SECONDS={ATELIER_HEARTBEAT_SECONDS} must be positive and at most half of "
        f"ATELIER_LEASE_SECONDS={ATELIER_LEASE_SECONDS}, or leases expire while their worker is alive."
    )
# The reconciler re-sends a queued submission whose message is older than this.
ATELIER_RECONCILE_GRACE_SECONDS = env_int("ATELIER_RECONCILE_GRACE_SECONDS", 120)
# Seconds a scoring task may take beyond its phase's execution time limit (loading, scoring).
ATELIER_SCORING_OVERHEAD_SECONDS = env_int("ATELIER_SCORING_OVERHEAD_SECONDS", 600)
# Threads of the sandboxed generator and bootstrap resamples of every score interval.
ATELIER_SANDBOX_THREADS = env_int("ATELIER_SANDBOX_THREADS", 2)
ATELIER_SCORING_BOOTSTRAP_RESAMPLES = env_int("ATELIER_SCORING_BOOTSTRAP_RESAMPLES", 100)
# Memory (MiB) one scoring step may hold per metric; batch sizes derive from it (0: a quarter of free memory).
ATELIER_SCORING_MEMORY_MB = env_int("ATELIER_SCORING_MEMORY_MB", 0)
if ATELIER_SCORING_MEMORY_MB != 0 and ATELIER_SCORING_MEMORY_MB < 16:
    raise ImproperlyConfigured(
        f"ATELIER_SCORING_MEMORY_MB={ATELIER_SCORING_MEMORY_MB} is too small; give at least 16 (MiB), "
        "or 0 for a quarter of the free memory."
    )
# Workers keep checkpoints, datasets (by content hash) and reference statistics here.
ATELIER_WORKER_CACHE_DIR = Path(env_str("ATELIER_WORKER_CACHE_DIR", str(VAR_DIR / "worker-cache"))).resolve()
# Below this much free space on the cache's disk a worker runs nothing: the run is the platform's to retry.
ATELIER_WORKER_CACHE_MIN_FREE_MB = env_int("ATELIER_WORKER_CACHE_MIN_FREE_MB", 256)
# Checkpoints and image sets beyond this are evicted, least recently used first (0: no bound).
ATELIER_WORKER_CACHE_MAX_MB = env_int("ATELIER_WORKER_CACHE_MAX_MB", 20480)
# A worker reports its pretrained feature weights (gan_core's registry) when it starts and this often
# (seconds; 0: only at start); the create-competition page reads the reports of the last 24 hours.
ATELIER_WORKER_WEIGHTS_REPORT_S = env_int("ATELIER_WORKER_WEIGHTS_REPORT_S", 3600)
CELERY_TASK_ROUTES["scoring.reconcile"] = {"queue": CELERY_TASK_DEFAULT_QUEUE}
CELERY_BEAT_SCHEDULE["scoring-reconcile"] = _beat_on_default_queue("scoring.reconcile", every=60.0, expires=55)
CELERY_BEAT_SCHEDULE["submissions-standings-sweep"] = _beat_on_default_queue(
    "submissions.standings_sweep", every=60.0, expires=55
)
CELERY_BEAT_SCHEDULE["submissions-upload-sessions-expire"] = _beat_on_default_queue(
    "submissions.upload_sessions_expire", every=600.0, expires=550
)

# --- Human judging (judging app, decision 0017) ------------------------------------
# A vote asks for a ratings refit at most once per this many seconds per phase; the sweep (60 s)
# fits what arrived meanwhile. Ratings are never fitted in a request.
ATELIER_RATINGS_DEBOUNCE_SECONDS = env_int("ATELIER_RATINGS_DEBOUNCE_SECONDS", 30)
# Bootstrap resamples over voters behind every human rating's interval (0: no intervals).
ATELIER_RATINGS_BOOTSTRAP_RESAMPLES = env_int("ATELIER_RATINGS_BOOTSTRAP_RESAMPLES", 200)
CELERY_BEAT_SCHEDULE["judging-ratings-sweep"] = _beat_on_default_queue("judging.ratings_sweep", every=60.0, expires=55)

# --- Discussion and notifications (discussion, notifications apps; decision 0016) ----------------
# Absolute address of the site, for the links in e-mails and webhook payloads (no request there).
ATELIER_SITE_URL = env_str("ATELIER_SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# Topics and replies one user may post per hour (pages and API together).
ATELIER_DISCUSSION_POST_LIMIT = env_int("ATELIER_DISCUSSION_POST_LIMIT", 20)
# Webhooks: plain http and loopback receivers only in development and tests; private, link-local
# and reserved addresses never (SSRF).
ATELIER_WEBHOOK_ALLOW_LOOPBACK = env_bool("ATELIER_WEBHOOK_ALLOW_LOOPBACK", DEBUG)
ATELIER_WEBHOOK_MAX_ATTEMPTS = env_int("ATELIER_WEBHOOK_MAX_ATTEMPTS", 6)
ATELIER_WEBHOOK_RETRY_BASE_SECONDS = env_int("ATELIER_WEBHOOK_RETRY_BASE_SECONDS", 30)
ATELIER_WEBHOOK_TIMEOUT_SECONDS = env_int("ATELIER_WEBHOOK_TIMEOUT_SECONDS", 10)
for _name in ("ATELIER_DISCUSSION_POST_LIMIT", "ATELIER_WEBHOOK_TIMEOUT_SECONDS"):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name}={globals()[_name]} must be at least 1.")
if not 1 <= ATELIER_WEBHOOK_MAX_ATTEMPTS <= 20:
    raise ImproperlyConfigured(f"ATELIER_WEBHOOK_MAX_ATTEMPTS={ATELIER_WEBHOOK_MAX_ATTEMPTS} must be from 1 to 20.")
if not 0 <= ATELIER_WEBHOOK_RETRY_BASE_SECONDS <= 600:
    # the longest countdown (an hour) stays far below the broker's visibility timeout
    raise ImproperlyConfigured(
        f"ATELIER_WEBHOOK_RETRY_BASE_SECONDS={ATELIER_WEBHOOK_RETRY_BASE_SECONDS} must be from 0 to 600."
    )
CELERY_TASK_ROUTES["notifications.*"] = {"queue": CELERY_TASK_DEFAULT_QUEUE}
CELERY_BEAT_SCHEDULE["notifications-phase-events"] = _beat_on_default_queue(
    "notifications.phase_events_sweep", every=60.0, expires=55
)

# --- Files ----------------------------------------------------------------------
# Public media (style reference images, public preview images) has a URL.
# Private files (checkpoints, hidden content sets, outputs) never do: they are
# read through the "private" storage, which has no base URL and no route.

MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"
PRIVATE_ROOT = VAR_DIR / "private"
STATIC_ROOT = VAR_DIR / "static"
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]

STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": MEDIA_URL},
    },
    "private": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(PRIVATE_ROOT), "base_url": None},
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        ),
    },
}

# S3-compatible object storage (AWS S3, MinIO) for private files when a bucket is
# named: workers on other machines then read checkpoints and datasets and write
# outputs through it. Nothing links to these objects (no public URL).
ATELIER_S3_BUCKET = env_str("ATELIER_S3_BUCKET")
if ATELIER_S3_BUCKET:
    STORAGES["private"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": ATELIER_S3_BUCKET,
            "endpoint_url": env_str("ATELIER_S3_ENDPOINT_URL") or None,
            "access_key": env_str("ATELIER_S3_ACCESS_KEY_ID") or None,
            "secret_key": env_str("ATELIER_S3_SECRET_ACCESS_KEY") or None,
            "region_name": env_str("ATELIER_S3_REGION") or None,
            "location": env_str("ATELIER_S3_PREFIX", "private"),
            "default_acl": "private",
            "file_overwrite": False,
            "addressing_style": "path" if env_str("ATELIER_S3_ENDPOINT_URL") else None,
        },
    }

# Uploads stream to disk above this size; the real size limit is enforced by
# the upload handler of the submissions app, not by this setting.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = str(VAR_DIR / "uploads")
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Resumable upload sessions (submissions.upload_sessions): an open session expires this many
# seconds after its last chunk (or its creation), and the beat task deletes its bytes; chunks on
# local disk go to private files under ATELIER_UPLOAD_SESSIONS_DIR. On S3, clients send parts to
# presigned URLs of ATELIER_S3_PUBLIC_ENDPOINT_URL (default: ATELIER_S3_ENDPOINT_URL) that stay
# valid ATELIER_UPLOAD_PART_URL_SECONDS.
ATELIER_UPLOAD_SESSION_SECONDS = env_int("ATELIER_UPLOAD_SESSION_SECONDS", 24 * 3600)
ATELIER_UPLOAD_SESSIONS_DIR = Path(env_str("ATELIER_UPLOAD_SESSIONS_DIR", str(VAR_DIR / "upload-sessions"))).resolve()
ATELIER_UPLOAD_CHUNK_BYTES = env_int("ATELIER_UPLOAD_CHUNK_BYTES", 8 * 1024 * 1024)
ATELIER_UPLOAD_PART_URL_SECONDS = env_int("ATELIER_UPLOAD_PART_URL_SECONDS", 3600)
# S3: a completed upload is verified (SHA-256, checks) by a task on the default queue; a session still
# verifying this many seconds after its task was sent is sent again by the sweep (its worker died).
ATELIER_UPLOAD_VERIFY_GRACE_SECONDS = env_int("ATELIER_UPLOAD_VERIFY_GRACE_SECONDS", 300)
CELERY_BEAT_SCHEDULE["submissions-upload-sessions-verify-sweep"] = _beat_on_default_queue(
    "submissions.upload_sessions_verify_sweep", every=60.0, expires=55
)
ATELIER_S3_PUBLIC_ENDPOINT_URL = env_str("ATELIER_S3_PUBLIC_ENDPOINT_URL") or env_str("ATELIER_S3_ENDPOINT_URL")

# --- Auth, i18n ---------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # django-axes' lockout check first, then the password check.
    "accounts.backends.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

EMAIL_BACKEND = env_str("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DJANGO_DEFAULT_FROM_EMAIL", "atelier@localhost")
# SMTP, when DJANGO_EMAIL_BACKEND is django.core.mail.backends.smtp.EmailBackend.
EMAIL_HOST = env_str("DJANGO_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("DJANGO_EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("DJANGO_EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("DJANGO_EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("DJANGO_EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = 30

# --- Throttles: login (django-axes), sign-up and password reset (accounts.throttles) -----
# Both count in the database, so every process (gunicorn workers, several web
# machines) sees the same counts whatever the cache is.

# Proxies in front of Django that append the client's address to X-Forwarded-For;
# 0 (no proxy): the client is REMOTE_ADDR and X-Forwarded-For is ignored.
ATELIER_TRUSTED_PROXIES = env_int("ATELIER_TRUSTED_PROXIES", 1 if env_bool("DJANGO_BEHIND_TLS_PROXY", False) else 0)
ATELIER_LOGIN_FAILURE_LIMIT = env_int("ATELIER_LOGIN_FAILURE_LIMIT", 10)
ATELIER_LOGIN_LOCKOUT_SECONDS = env_int("ATELIER_LOGIN_LOCKOUT_SECONDS", 900)
ATELIER_SIGN_UP_LIMIT = env_int("ATELIER_SIGN_UP_LIMIT", 10)
ATELIER_PASSWORD_RESET_LIMIT = env_int("ATELIER_PASSWORD_RESET_LIMIT", 9)
for _name in (
    "ATELIER_LOGIN_FAILURE_LIMIT",
    "ATELIER_LOGIN_LOCKOUT_SECONDS",
    "ATELIER_SIGN_UP_LIMIT",
    "ATELIER_PASSWORD_RESET_LIMIT",
):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name}={globals()[_name]} must be at least 1.")
if ATELIER_TRUSTED_PROXIES < 0:
    raise ImproperlyConfigured(f"ATELIER_TRUSTED_PROXIES={ATELIER_TRUSTED_PROXIES} must be 0 or more.")

AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
# Locked when the address, or the account, reaches the limit of failures.
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_FAILURE_LIMIT = ATELIER_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=ATELIER_LOGIN_LOCKOUT_SECONDS)
AXES_RESET_ON_SUCCESS = True
# Attempts during a lockout are refused and not counted: the retry time shown stays true.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "accounts.throttles.client_address"
AXES_USERNAME_CALLABLE = "accounts.throttles.login_username"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.login_lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
# No start-up banner in every manage.py run; lockouts are still logged as warnings.
AXES_VERBOSE = False

# --- REST framework -------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "gan_platform.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "gan_platform.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Atelier API",
    "DESCRIPTION": "Competitions, submissions, quotas and leaderboards of Atelier. Errors: "
    '{"error": {"code", "message", "fields"}}.',
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Docs assets served from the installed drf-spectacular-sidecar: the docs page works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Security: production fails closed -----------------------------------------

if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy on every response (django-csp): the site loads its
# one script and one stylesheet from itself and has no inline script, style or
# style attribute. Only the API docs pages widen it (gan_platform/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # data: for the empty favicon of templates/base.html.
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("ATELIER_LOG_LEVEL", "INFO")},
}
