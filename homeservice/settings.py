"""Settings for the Home Service, read from the environment (12-factor).

Every value a deployer may change is an environment variable, listed in README.md. Defaults are
the embedded local setup: SQLite, no Redis server needed, DEBUG off unless asked for.
Production is simply ``DEBUG=false`` plus ``SECRET_KEY`` and ``ALLOWED_HOSTS``; it then passes
``manage.py check --deploy`` (tests/test_settings_deploy.py runs it).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
TESTING = env.bool("HOMESERVICE_TESTING", default=False)

# Where local state lives in embedded mode (SQLite file, generated secret key, static files).
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))


def _local_secret_key() -> str:
    """Generate a secret key once per checkout for local use; never used without DEBUG."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


# Required in production: env.str raises ImproperlyConfigured naming SECRET_KEY when it is missing.
SECRET_KEY = (env.str("SECRET_KEY", default="") or _local_secret_key()) if DEBUG or TESTING else env.str("SECRET_KEY")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG or TESTING else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "homeservice.errors.csrf_failure"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_jsonform",
    "channels",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "products",
    "ui_templates",
    "recommendations",
    "recommendations.interactions",
    "recommendations.plans",
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
    # Last: turns a login that django-axes refused (too many failures) into a 429 (docs/api.md).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "homeservice.urls"
ASGI_APPLICATION = "homeservice.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database ------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'homeservice.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several local processes (server, worker, beat) share the file: WAL and a busy timeout
    # let them write without "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
else:
    # Under ASGI every request's synchronous code may run in a new thread, and Django keeps
    # connections per thread: persistent connections (CONN_MAX_AGE > 0) would pile up until the
    # server refuses more. A psycopg pool per process hands connections back after each request.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    if env.bool("DATABASE_POOL", default=True):
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=1),
            "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10),
            "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
        }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, channel layer, Celery broker ----------------------------------------------
# REDIS_URL unset means "embedded": plain `manage.py` commands use in-process stand-ins, and
# `make run` (homeservice/launcher.py) starts an embedded Redis-protocol server and hands its URL
# to every process it starts, so the server, worker and beat all run the same code path as the
# full stack. See docs/architecture.md, "Embedded mode".
REDIS_URL = env.str("REDIS_URL", default="")
REDIS_KEY_PREFIX = env.str("REDIS_KEY_PREFIX", default="hs")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_KEY_PREFIX,
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
            },
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            # The pub/sub layer: measured here, the core layer silently dropped 22% of 5,000
            # per-user messages with its default capacity, and the pub/sub layer fanned out ~6x
            # faster (docs/architecture.md). Live messages are hints; clients converge with `resume`
            # (docs/websocket.md).
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                # redis-py 8 defaults (5 s socket timeout, pool of 100 that raises) break
                # channels-redis' blocking reads and handshake bursts (docs/architecture.md).
                "hosts": [{"address": REDIS_URL, "socket_timeout": None, "max_connections": 10_000}],
                "prefix": f"{REDIS_KEY_PREFIX}:asgi",
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Fragment caches (recommendations/fragments/, docs/architecture.md "Caches"). L1 is per process,
# short-lived and bounded; L2 is the cache above (Redis), push-fed, so it keeps fragments long.
FRAGMENT_L1_TTL_SECONDS = env.float("FRAGMENT_L1_TTL_SECONDS", default=10.0)
FRAGMENT_L1_MAXSIZE = env.int("FRAGMENT_L1_MAXSIZE", default=10_000)
FRAGMENT_L2_TTL_SECONDS = env.int("FRAGMENT_L2_TTL_SECONDS", default=30 * 24 * 3600)
# Stampede protection: the render lease's lifetime, and how long another process waits for it.
FRAGMENT_LEASE_SECONDS = env.float("FRAGMENT_LEASE_SECONDS", default=5.0)
FRAGMENT_LEASE_WAIT_SECONDS = env.float("FRAGMENT_LEASE_WAIT_SECONDS", default=0.5)
# After a Redis error the fragment caches skip L2 this long (the feed is served from the database).
FRAGMENT_L2_RETRY_SECONDS = env.float("FRAGMENT_L2_RETRY_SECONDS", default=2.0)
# Whole feed documents per user in Redis (recommendations/fragments/documents.py), and the ASGI
# fast path that answers warm home-feed requests from them (recommendations/api/home_fast.py).
# Both need Redis: without REDIS_URL every request goes to the view.
FEED_DOC_CACHE = env.bool("FEED_DOC_CACHE", default=True)
FEED_DOC_REDIS_URL = env.str("FEED_DOC_REDIS_URL", default="") or REDIS_URL
FEED_DOC_TTL_SECONDS = env.int("FEED_DOC_TTL_SECONDS", default=60)
FEED_FAST_PATH = env.bool("FEED_FAST_PATH", default=True)
# The fast path builds the documents it lacks itself (recommendations/feed_build.py: PostgreSQL
# only), with a small pool of asyncio connections per server process.
FEED_FAST_BUILD = env.bool("FEED_FAST_BUILD", default=True)
FEED_FAST_BUILD_DB_POOL_SIZE = env.int("FEED_FAST_BUILD_DB_POOL_SIZE", default=4)
FEED_FAST_BUILD_DB_TIMEOUT_SECONDS = env.float("FEED_FAST_BUILD_DB_TIMEOUT_SECONDS", default=2.0)
# Accounts changed without a signal (a queryset update(), raw SQL): database triggers record them,
# and each server process reads them this often, so both fast paths stop answering for a
# deactivated or deleted user within a second (recommendations/fragments/account_changes.py).
# 0: not read (such a change is then served until FEED_DOC_TTL_SECONDS).
ACCOUNT_CHANGES_POLL_SECONDS = env.float("ACCOUNT_CHANGES_POLL_SECONDS", default=0.5)
# Server processes (homeservice/asgi.py): the garbage collector's first threshold; 0 keeps Python's.
SERVER_GC_GEN0_THRESHOLD = env.int("SERVER_GC_GEN0_THRESHOLD", default=10_000)
# After a user's offers change, a worker renders their feed again (recommendations/tasks.py,
# feed_warm); changes within this many seconds of a queued warm-up share it.
FEED_WARM_DEDUPE_SECONDS = env.int("FEED_WARM_DEDUPE_SECONDS", default=30)

# The plan finder (recommendations/plans/, docs/api.md): cached answers and each process's catalogue index live
# this long at most (a bound on changes no signal announced); plans per answer; how long a user's
# newest filter request id is kept (it marks older requests' refined answers superseded); whether
# a refined answer is computed and pushed after each request.
PLANS_CACHE_TTL_SECONDS = env.int("PLANS_CACHE_TTL_SECONDS", default=300)
PLANS_FILTER_LIMIT = env.int("PLANS_FILTER_LIMIT", default=20)
PLANS_LATEST_REQUEST_TTL_SECONDS = env.int("PLANS_LATEST_REQUEST_TTL_SECONDS", default=3600)
PLANS_ENRICH = env.bool("PLANS_ENRICH", default=True)
# A user's requests while their enrichment is queued share it (it refines the newest); the mark
# is cleared when the task starts, and lasts this long at most (a worker that is down).
PLANS_ENRICH_DEDUPE_SECONDS = env.int("PLANS_ENRICH_DEDUPE_SECONDS", default=30)
# Answer POST /api/v1/plans/filter/ in ASGI before Django when it can be answered exactly as the
# view would (recommendations/plans/filter_fast.py); needs Redis for the cache and the feed documents' generations.
PLANS_FAST_PATH = env.bool("PLANS_FAST_PATH", default=True)

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# kombu's Redis transport, safe to close after a lost connection (homeservice/broker.py); a
# rediss:// URL keeps kombu's own (it sets up TLS by the URL's scheme).
CELERY_BROKER_TRANSPORT = "homeservice.broker:Transport" if REDIS_URL.startswith("redis://") else None
# A broker that goes away is waited for, however long (docs/operations.md, "Supervision and
# broker reconnects"): the worker and beat retry every 2, 4, 6 ... up to 30 s, on startup too.
# Connects give up after 2 s, a command after 10 s (a broker that vanished without closing the
# connection), and idle connections are checked every 10 s.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "global_keyprefix": f"{REDIS_KEY_PREFIX}:celery:",
        "socket_connect_timeout": 2.0,
        "socket_timeout": 10.0,
        "socket_keepalive": True,
        "health_check_interval": 10,
    }
    if REDIS_URL
    else {}
)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TIMEZONE = "UTC"
# How often beat looks for products whose deals are due for a poll (each product has its own
# interval, editable in the admin, so adding or changing one needs no restart).
DEALS_POLL_TICK_SECONDS = env.float("DEALS_POLL_TICK_SECONDS", default=10.0)
CELERY_BEAT_SCHEDULE = {
    "deals-poll-due": {
        "task": "products.tasks.deals_poll_due",
        "schedule": DEALS_POLL_TICK_SECONDS,
        "options": {"expires": DEALS_POLL_TICK_SECONDS},
    },
    # Campaign schedules of templates (publish at / unpublish at), to the half minute.
    "templates-apply-schedules": {
        "task": "ui_templates.tasks.templates_apply_schedules",
        "schedule": 30.0,
        "options": {"expires": 30},
    },
    # Outbound events to product backends left pending (recommendations/interactions/outbox.py).
    "interactions-outbox-sweep": {
        "task": "recommendations.interactions.tasks.outbox_sweep",
        "schedule": env.float("OUTBOX_SWEEP_SECONDS", default=30.0),
        "options": {"expires": 30},
    },
    # Click-through rates of the products' template versions, for the section order
    # (recommendations/ranking.py, recommendations/interactions/ranking_inputs.py).
    "interactions-ranking-refresh": {
        "task": "recommendations.interactions.tasks.ranking_refresh",
        "schedule": env.float("RANKING_REFRESH_SECONDS", default=300.0),
        "options": {"expires": 300},
    },
}
# Outbound events to product backends (recommendations/interactions/outbox.py, docs/product-backends.md):
# attempts before a message becomes a dead letter; retry wait random up to min(max, base * 2^n) s;
# a pending message the sweep picks up once its next attempt is this overdue.
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=8)
OUTBOX_BACKOFF_SECONDS = env.int("OUTBOX_BACKOFF_SECONDS", default=2)
OUTBOX_BACKOFF_MAX_SECONDS = env.int("OUTBOX_BACKOFF_MAX_SECONDS", default=600)
OUTBOX_SWEEP_GRACE_SECONDS = env.float("OUTBOX_SWEEP_GRACE_SECONDS", default=30.0)
OUTBOX_KEEP_DELIVERED_DAYS = env.int("OUTBOX_KEEP_DELIVERED_DAYS", default=7)
# Interaction events (POST /api/v1/events/): events per request at most; how long the sections
# built for a user count as shown (recommendations/interactions/shown.py).
INTERACTIONS_BATCH_LIMIT = env.int("INTERACTIONS_BATCH_LIMIT", default=500)
INTERACTIONS_MAX_BODY_BYTES = env.int("INTERACTIONS_MAX_BODY_BYTES", default=1024 * 1024)
INTERACTIONS_SHOWN_TTL_SECONDS = env.int("INTERACTIONS_SHOWN_TTL_SECONDS", default=7 * 24 * 3600)

# --- Product backends and the feed ------------------------------------------------------------
# Deals older than this are still served (last good deals) but marked stale.
DEALS_STALE_AFTER = timedelta(seconds=env.int("DEALS_STALE_AFTER_SECONDS", default=30 * 60))
OUTBOUND_CONNECT_TIMEOUT = env.float("OUTBOUND_CONNECT_TIMEOUT", default=2.0)
OUTBOUND_READ_TIMEOUT = env.float("OUTBOUND_READ_TIMEOUT", default=5.0)
OUTBOUND_MAX_BODY_BYTES = env.int("OUTBOUND_MAX_BODY_BYTES", default=1_000_000)
# The demo product simulator (a stand-in for product backends) is mounted at /simulator/.
PRODUCT_SIMULATOR_ENABLED = env.bool("PRODUCT_SIMULATOR_ENABLED", default=DEBUG)
SIMULATOR_ROTATE_SECONDS = env.int("SIMULATOR_ROTATE_SECONDS", default=60)
# Product webhooks (docs/webhooks.md): signed requests per product and minute (counted in the
# cache, django-ratelimit), and the largest body accepted.
WEBHOOK_RATE_LIMIT_PER_MINUTE = env.int("WEBHOOK_RATE_LIMIT_PER_MINUTE", default=6000)
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=1024 * 1024)

# Template render budget (ui_templates/budget.py): per section rendered, and per dry render when a
# template is checked or previewed; over it the feed falls back to the built-in template.
TEMPLATE_RENDER_MAX_NODES = env.int("TEMPLATE_RENDER_MAX_NODES", default=2000)
TEMPLATE_RENDER_MAX_OUTPUT_BYTES = env.int("TEMPLATE_RENDER_MAX_OUTPUT_BYTES", default=256 * 1024)
TEMPLATE_RENDER_MAX_CPU_SECONDS = env.float("TEMPLATE_RENDER_MAX_CPU_SECONDS", default=0.02)

# --- Auth and API -----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "homeservice.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_ACCESS_TTL_SECONDS", default=15 * 60)),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_REFRESH_TTL_SECONDS", default=7 * 24 * 3600)),
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default="") or SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
    # Each refresh answers a new refresh token and blacklists the one used (token_blacklist app):
    # a refresh token works once, and POST /api/v1/auth/logout/ revokes one.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}

# Request-rate throttles (homeservice/throttling.py, docs/api.md "Throttling"): requests per period
# ("N/second|minute|hour|day"; empty switches a scope off), counted per client address for the
# login endpoints and per user for the others, in Redis when the cache is (shared by all processes).
THROTTLE_RATES = {
    "login": env.str("THROTTLE_LOGIN_RATE", default="20/minute"),  # token obtain, admin login (POST)
    "token": env.str("THROTTLE_TOKEN_RATE", default="60/minute"),  # token refresh, logout
    "live_ticket": env.str("THROTTLE_LIVE_TICKET_RATE", default="30/minute"),
    "events": env.str("THROTTLE_EVENTS_RATE", default="120/minute"),
    "plans_filter": env.str("THROTTLE_PLANS_FILTER_RATE", default="120/minute"),
    "plans_select": env.str("THROTTLE_PLANS_SELECT_RATE", default="30/minute"),
}
# Failed logins (django-axes, token obtain and the admin login): after LOGIN_FAILURE_LIMIT failures
# of one username from one address, that pair is refused (429) for LOGIN_LOCKOUT_SECONDS, counted
# again from each further attempt. Attempts are rows in the database (AccessAttempt, in the admin).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out pair before the password check
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(seconds=env.int("LOGIN_LOCKOUT_SECONDS", default=15 * 60))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "homeservice.throttling.client_address"
AXES_LOCKOUT_CALLABLE = "homeservice.auth_api.lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # no row per successful login
AXES_VERBOSE = False
SPECTACULAR_SETTINGS = {
    "TITLE": "Home Service API",
    "DESCRIPTION": "The app home screen as server-driven UI. See docs/api.md and docs/websocket.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from our own static files: no CDN needed.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# /metrics (homeservice/metrics.py) answers DEBUG, direct loopback requests, and requests with
# `Authorization: Bearer <METRICS_TOKEN>` when this is set.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- Security (production: DEBUG off) ---------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=True) else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG and not TESTING)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG and not TESTING)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG and not TESTING)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Static files, i18n, logging ----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
if DEBUG or TESTING:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing directory
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and not TESTING
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"client_error_without_traceback": {"()": "homeservice.log_filters.ClientErrorWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # One line per outbound request is noise at INFO; failures are logged by the callers.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # Django's own console handler (DEBUG) would print each record a second time: everything
        # goes to the root handler only.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        # An expected 4xx (a 403 in the admin, a 404) is one line, without a traceback.
        "django.request": {"filters": ["client_error_without_traceback"], "propagate": True},
    },
}

# --- Live updates over WebSocket (recommendations/consumers.py, docs/websocket.md) ---------------
# One-time tickets for `/ws/home/?ticket=` (POST /api/v1/live/ticket/): lifetime, at most 60 s.
LIVE_TICKET_TTL_SECONDS = env.int("LIVE_TICKET_TTL_SECONDS", default=30)
# Incoming messages per connection: a token bucket; a client beyond it is closed with 4429.
LIVE_CLIENT_MESSAGES_PER_SECOND = env.float("LIVE_CLIENT_MESSAGES_PER_SECOND", default=10.0)
LIVE_CLIENT_BURST = env.int("LIVE_CLIENT_BURST", default=30)
# A client that does not read is closed with 4413 once this many bytes wait for it.
LIVE_OUTBOX_MAX_BYTES = env.int("LIVE_OUTBOX_MAX_BYTES", default=1024 * 1024)
# A client that sends nothing (not even `ping`) this long is closed with 4408.
LIVE_IDLE_TIMEOUT_SECONDS = env.float("LIVE_IDLE_TIMEOUT_SECONDS", default=120.0)
# How often each process checks its connections' idle time, credential expiry, and whether their
# sessions and accounts still hold (a logout or a deactivation closes them with 4401).
LIVE_SWEEP_SECONDS = env.float("LIVE_SWEEP_SECONDS", default=5.0)
# Sockets one user may hold across all processes (counted in Redis); the next is closed with 4429.
# 0: no limit.
LIVE_MAX_SOCKETS_PER_USER = env.int("LIVE_MAX_SOCKETS_PER_USER", default=20)
# Keys per SCAN round trip for django-redis' delete_pattern (the fragment invalidation each live
# update triggers): the default of 10 made one invalidation hundreds of round trips.
DJANGO_REDIS_SCAN_ITERSIZE = env.int("DJANGO_REDIS_SCAN_ITERSIZE", default=1000)

# --- Deals polling: resilience and outbound safety (products/, docs/product-backends.md) -------
# Hosts product backends may be called on (exact names), and nothing else: never derived from
# the endpoints an admin gives a product. Default with DEBUG or in tests: the loopback names (the
# demo simulator and the test servers listen on 127.0.0.1); in production empty, so no backend
# is called until this is set. Addresses that are not public (private, loopback, reserved) are
# refused unless allowed: on by default only with DEBUG or in tests. Link-local and cloud
# metadata addresses, and IPv6 forms embedding a non-public IPv4 address, are refused always
# (products/outbound_guard.py).
OUTBOUND_ALLOWED_HOSTS = [
    h.lower()
    for h in env.list("OUTBOUND_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "::1"] if DEBUG or TESTING else [])
]
OUTBOUND_ALLOW_PRIVATE_ADDRESSES = env.bool("OUTBOUND_ALLOW_PRIVATE_ADDRESSES", default=DEBUG or TESTING)
# A whole response (connect, headers and body) must arrive within this many seconds.
OUTBOUND_TOTAL_TIMEOUT = env.float("OUTBOUND_TOTAL_TIMEOUT", default=15.0)
# Transient failures (connect errors, timeouts, 5xx, 429) are retried this many times, after
# exponential backoff with full jitter: random(0, min(max, base * 2**retry)) seconds.
DEALS_POLL_MAX_RETRIES = env.int("DEALS_POLL_MAX_RETRIES", default=3)
DEALS_POLL_RETRY_BACKOFF_SECONDS = env.int("DEALS_POLL_RETRY_BACKOFF_SECONDS", default=2)
DEALS_POLL_RETRY_BACKOFF_MAX_SECONDS = env.int("DEALS_POLL_RETRY_BACKOFF_MAX_SECONDS", default=60)
# The circuit breaker per product (pybreaker; state in Redis, shared by all processes): opens
# after this many consecutive transient failures, lets one trial call through after the reset.
BACKEND_BREAKER_FAIL_MAX = env.int("BACKEND_BREAKER_FAIL_MAX", default=5)
BACKEND_BREAKER_RESET_SECONDS = env.float("BACKEND_BREAKER_RESET_SECONDS", default=60.0)
# Deal snapshots kept per product (the newest ones; older ones are pruned after each change).
DEALS_SNAPSHOTS_KEEP = env.int("DEALS_SNAPSHOTS_KEEP", default=20)
# deals.changed notices for a product share one queued poll until it starts (at most this long).
DEALS_POLL_REQUEST_DEDUPE_SECONDS = env.int("DEALS_POLL_REQUEST_DEDUPE_SECONDS", default=60)

# --- Web client (webclient/, docs/web-client.md) --------------------------------------------------
# Serves the built reference web client at / (its assets are the app's static files).
INSTALLED_APPS += ["webclient"]
# Files WhiteNoise may let browsers cache forever: names carrying a hash of their content, from
# Django's manifest storage (`name.<12 hex>.ext`) or from Vite's build of the web client
# (`webclient/assets/name-<8 chars>.ext`; index.html names them, so it is never cached long).
WHITENOISE_IMMUTABLE_FILE_TEST = r"(\.[0-9a-f]{12}\.\w+|/webclient/assets/[^/]+-[A-Za-z0-9_-]{8}\.\w+(\.map)?)$"
