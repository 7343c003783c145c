"""Django settings: every value from the environment, with safe defaults.

Production needs at least SECRET_KEY and ALLOWED_HOSTS (DEBUG is off unless set, or unless
this is a checkout `make run` set up: see env.local_checkout);
DATABASE_URL points at PostgreSQL there. README "Configuration" lists every variable.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from engine.limits import Limits, parse_duration
from thaiyyal.env import env_bool, env_int, env_list, env_str, local_checkout, secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
#: local state (SQLite database, generated secret key); never committed
VAR_DIR = Path(env_str("THAIYYAL_VAR_DIR") or BASE_DIR / "var")

DEBUG = env_bool("DEBUG", local_checkout(VAR_DIR))
SECRET_KEY = secret_key(DEBUG, VAR_DIR / "secret_key")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",  # cron schedules, edited in the admin (queue mode)
    "workflows",
]

MIDDLEWARE = [
    # Probes first: they must answer whatever Host header a load balancer sends and
    # without an HTTPS redirect.
    "thaiyyal.health.ProbeMiddleware",
    "thaiyyal.unavailable.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "thaiyyal.security_headers.SecurityHeadersMiddleware",
    "thaiyyal.body_limit.RequestBodyLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "thaiyyal.errors.NotFoundMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "thaiyyal.urls"
WSGI_APPLICATION = "thaiyyal.wsgi.application"

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


def _database() -> dict[str, Any]:
    url = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'thaiyyal.sqlite3'}"
    # conn_max_age=0: with the pool below, Django hands connections back to the pool at
    # the end of each request instead of keeping its own persistent ones.
    db: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=0))
    if db["ENGINE"] == "django.db.backends.postgresql":
        # Server-side binding lets psycopg prepare statements a connection runs often (the
        # token lookup, the run insert): PostgreSQL then skips parsing and planning them.
        db.setdefault("OPTIONS", {})["server_side_binding"] = True
        # A database that is down must cost a request little (docs/reliability.md): the
        # pool lends a connection within `timeout` or the request answers 503; a new
        # connection gives up after connect_timeout (libpq's minimum is 2 s) when the
        # network swallows packets; a pool whose connection attempts keep failing stops
        # retrying on its own schedule (exponential, up to minutes) after
        # reconnect_timeout, so the next request tries afresh and serving resumes within
        # seconds of the database's return.
        db["OPTIONS"]["connect_timeout"] = env_int("THAIYYAL_DB_CONNECT_TIMEOUT", 2, minimum=2)
        db["OPTIONS"]["pool"] = {
            "min_size": env_int("THAIYYAL_DB_POOL_MIN_SIZE", 1),
            "max_size": env_int("THAIYYAL_DB_POOL_MAX_SIZE", 4, minimum=1),
            "timeout": env_int("THAIYYAL_DB_POOL_TIMEOUT", 1, minimum=1),
            "reconnect_timeout": env_int("THAIYYAL_DB_RECONNECT_TIMEOUT", 2, minimum=1),
        }
        # With the pool, this makes it check a connection before lending it: one broken
        # while idle (database restart, failover) is replaced instead of failing a request.
        # thaiyyal/pool_check.py makes that check a socket poll, not a round trip.
        db["CONN_HEALTH_CHECKS"] = True
    elif db["ENGINE"] == "django.db.backends.sqlite3":
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        db["OPTIONS"] = {
            # Several gunicorn workers (and a run's recording timer) write at once: WAL lets
            # readers proceed, IMMEDIATE takes the write lock up front, timeout waits for it.
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    return db


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# WhiteNoise serves admin and API-docs assets straight from the installed apps, so no
# collectstatic step is needed; set THAIYYAL_STATIC_ROOT to collect them for a CDN.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
if env_str("THAIYYAL_STATIC_ROOT"):
    STATIC_ROOT = env_str("THAIYYAL_STATIC_ROOT")

# --- Transport security. On by default whenever DEBUG is off; THAIYYAL_HTTPS=0 for a
# plain-HTTP deployment (a trusted internal network, or local use).
HTTPS = env_bool("THAIYYAL_HTTPS", not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("THAIYYAL_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("THAIYYAL_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("THAIYYAL_HSTS_PRELOAD", False)
if env_bool("THAIYYAL_TRUST_X_FORWARDED_PROTO", False):
    # Only behind a proxy that sets (and strips client-sent) X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# --- Content-Security-Policy (thaiyyal/security_headers.py), the one place pages follow:
# script only from this origin's files (/static/): no inline <script>, no onclick=, no
# eval. Put a page's JavaScript in a static file and its data in a `json_script` block
# (<script type="application/json">, which is data and never runs). Inline *styles* are
# allowed: the admin's templates and Swagger UI use style attributes, and a style cannot
# run script. Images may be data: URLs (Swagger UI's icons); nothing may frame a page.
THAIYYAL_CSP: dict[str, list[str]] = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
#: path prefix -> sources added there: django-silk's pages (staff only, off by default)
#: and django-celery-beat's admin forms (staff only) use inline script we do not control
THAIYYAL_CSP_RELAXED: dict[str, dict[str, list[str]]] = {
    "/silk/": {"script-src": ["'unsafe-inline'"]},
    "/admin/django_celery_beat/": {"script-src": ["'unsafe-inline'"]},
}
THAIYYAL_PERMISSIONS_POLICY = ("camera=(), microphone=(), geolocation=(), payment=(), usb=(), "
                               "interest-cohort=()")

# --- Engine limits: THAIYYAL_<LIMIT NAME>, e.g. THAIYYAL_MAX_EXECUTION_TIME=10m.
_DURATION_LIMITS = {"max_execution_time", "http_timeout", "http_connect_timeout"}


def _limits() -> dict[str, float | int]:
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Limits):
        raw = env_str(f"THAIYYAL_{f.name.upper()}")
        if not raw:
            continue
        try:
            values[f.name] = parse_duration(raw) if f.name in _DURATION_LIMITS else int(raw)
        except ValueError:
            raise ImproperlyConfigured(
                f"THAIYYAL_{f.name.upper()} is not a valid {f.name}: {raw!r}") from None
    try:
        return Limits(**values).to_dict()
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from None


#: the server's limits; a request may lower them, never raise them
THAIYYAL_LIMITS = _limits()
#: request bodies above this get a JSON 413 (Django refuses larger form posts the same way)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("THAIYYAL_MAX_REQUEST_BYTES",
                                      int(THAIYYAL_LIMITS["max_payload_bytes"]), minimum=1024)
#: what http nodes may reach despite the SSRF guard: host names
#: (`*.example.com` for subdomains) and CIDR networks
THAIYYAL_HTTP_ALLOWED_HOSTS = env_list("THAIYYAL_HTTP_ALLOWED_HOSTS")
THAIYYAL_HTTP_ALLOWED_NETWORKS = env_list("THAIYYAL_HTTP_ALLOWED_NETWORKS")
for _network in THAIYYAL_HTTP_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"THAIYYAL_HTTP_ALLOWED_NETWORKS: {_exc}") from None

# --- Run history.
#: record ad-hoc runs (POST /api/v1/workflow/execute) as well as stored ones
THAIYYAL_RECORD_ADHOC_RUNS = env_bool("THAIYYAL_RECORD_ADHOC_RUNS", True)
#: a node's stored output (JSON) is cut to a preview beyond this many characters
THAIYYAL_NODE_OUTPUT_MAX_BYTES = env_int("THAIYYAL_NODE_OUTPUT_MAX_BYTES", 64 * 1024)
#: a run still going after this long gets its `running` row committed (see services)
THAIYYAL_RUNNING_ROW_AFTER_MS = env_int("THAIYYAL_RUNNING_ROW_AFTER_MS", 50)
#: loaded (parsed and compiled) workflows kept per worker process
THAIYYAL_WORKFLOW_CACHE_SIZE = env_int("THAIYYAL_WORKFLOW_CACHE_SIZE", 256, minimum=1)
#: runs at least this long count as slow in the admin's filter
THAIYYAL_SLOW_RUN_MS = env_int("THAIYYAL_SLOW_RUN_MS", 1000)
#: the admin's run list counts at most this many rows (no full COUNT(*) of the history)
THAIYYAL_ADMIN_RUN_COUNT_CAP = env_int("THAIYYAL_ADMIN_RUN_COUNT_CAP", 10_000, minimum=1)
#: a `running` run older than its own time limit plus this is interrupted on any host
THAIYYAL_REAP_GRACE_SECONDS = env_int("THAIYYAL_REAP_GRACE_SECONDS", 60)
#: a worker accepts a token it verified this recently, when the database is unreachable,
#: on endpoints that need nothing else from it (validate); 0 turns that off
THAIYYAL_AUTH_REMEMBER_SECONDS = env_int("THAIYYAL_AUTH_REMEMBER_SECONDS", 300)
#: a worker accepts a token it verified this recently without a database query: the
#: delay before a token deleted (or a user deactivated) in another process stops working;
#: 0 checks the database on every request
THAIYYAL_AUTH_CACHE_SECONDS = env_int("THAIYYAL_AUTH_CACHE_SECONDS", 10)
#: a pooled connection idle longer than this is checked with a round trip before it is
#: lent (others only by a poll of their socket); 0 checks every one that way
THAIYYAL_DB_CHECK_IDLE_SECONDS = env_int("THAIYYAL_DB_CHECK_IDLE_SECONDS", 30)
#: how often each server worker looks for abandoned runs (at most half the grace)
THAIYYAL_REAP_INTERVAL_SECONDS = env_int("THAIYYAL_REAP_INTERVAL_SECONDS", 10, minimum=1)


def _rate(name: str, default: str) -> str | None:
    value = env_str(name, default)
    return None if value.lower() in {"", "off", "none"} else value


REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes unauthenticated requests a 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "workflows.api.authentication.OutageTolerantTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["workflows.api.parsers.JSONBodyParser"],
    "DEFAULT_RENDERER_CLASSES": ["workflows.api.renderers.RunSafeJSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "workflows.api.negotiation.FirstRendererNegotiation",
    "DEFAULT_THROTTLE_CLASSES": [
        "workflows.api.throttles.AnonThrottle",
        "workflows.api.throttles.UserThrottle",
    ],
    # Counted in Django's cache: per worker process with the default local-memory cache
    # (the effective rate is then this times the number of workers), server-wide when
    # CACHES names a shared cache. "off" disables a scope. A request whose token is
    # refused counts against "anon" for its address (workflows/api/throttles.py).
    "DEFAULT_THROTTLE_RATES": {
        "anon": _rate("THAIYYAL_THROTTLE_ANON", "60/min"),
        "user": _rate("THAIYYAL_THROTTLE_USER", "20000/min"),
        "execute": _rate("THAIYYAL_THROTTLE_EXECUTE", "20000/min"),
    },
    # The client address the anonymous rate counts by: REMOTE_ADDR unless proxies are
    # declared (DRF's own default, None, believes any client-sent X-Forwarded-For, so
    # a client could make up a new address per request and never be throttled).
    "NUM_PROXIES": env_int("THAIYYAL_PROXY_COUNT", 0),
    "EXCEPTION_HANDLER": "workflows.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# --- Abuse controls (docs/security.md).
#: runs one user may have in flight at once; past it an execute answers 429 + Retry-After
#: (counted in Django's cache like the throttles); 0 turns the cap off
THAIYYAL_MAX_RUNS_IN_FLIGHT = env_int("THAIYYAL_MAX_RUNS_IN_FLIGHT", 8)
# Admin (session) logins: django-axes records each failure in the database, so a lockout
# holds on every worker and host with or without a shared cache, and staff see the
# attempts in the admin. Locked per username *and* address at 5 failures; per address alone
# only at a higher limit (password spraying), since behind a proxy every client shares
# one address; never per username alone, which would let anyone lock an admin out
# (workflows/login_lockout.py). `thaiyyal manage axes_reset` lifts a lockout.
INSTALLED_APPS += ["axes"]
MIDDLEWARE.append("axes.middleware.AxesMiddleware")
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("THAIYYAL_LOGIN_FAILURE_LIMIT", 5, minimum=1)
#: hours a lockout lasts
AXES_COOLOFF_TIME = env_int("THAIYYAL_LOGIN_LOCKOUT_MINUTES", 15, minimum=1) / 60
#: failures from one address, whatever the usernames, that lock the address (0: never)
THAIYYAL_LOGIN_ADDRESS_FAILURE_LIMIT = env_int("THAIYYAL_LOGIN_ADDRESS_FAILURE_LIMIT", 20,
                                               minimum=0)
AXES_HANDLER = "workflows.login_lockout.LoginLockoutHandler"
if REST_FRAMEWORK["NUM_PROXIES"]:  # the same client address as the throttles
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    AXES_IPWARE_PROXY_COUNT = REST_FRAMEWORK["NUM_PROXIES"]
#: the pair, then the address: LoginLockoutHandler gives each its own limit (in this order)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_SENSITIVE_PARAMETERS = ["password"]
AXES_VERBOSE = False

#: Fernet keys for stored credentials, newest first (workflows/secrets.py; rotation in
#: docs/security.md); empty: one key derived from SECRET_KEY
THAIYYAL_CREDENTIAL_KEYS = env_list("THAIYYAL_CREDENTIAL_KEYS")

SPECTACULAR_SETTINGS = {
    "TITLE": "Thaiyyal API",
    "DESCRIPTION": "Store, version and execute workflows; review their run history.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs page are public; the docs' assets are served from here,
    # not a CDN, so they work offline and under a strict content security policy.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "workflows.models.RunStatus.choices",
        "ExecutionStatusEnum": ["succeeded", "failed"],
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "workflows.api.schema.add_error_responses",
    ],
}

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("THAIYYAL_LOG_LEVEL", "INFO").upper()},
    "loggers": {
        # Client errors are answered as JSON; they are not server problems.
        "django.request": {"level": "ERROR"},
    },
}

# --- Observability (docs/performance.md): Prometheus metrics, django-silk, /debug/pprof/,
# JSON run logs. Kept in one block; the logic lives in workflows/metrics.py,
# workflows/silk_hooks.py and workflows/debug.py.
#: /debug/pprof/ answers (staff only) when on; off by default
THAIYYAL_PPROF = env_bool("THAIYYAL_PPROF", False)
#: silk records a sample of requests (with their SQL) at /silk/ (staff only) when on
THAIYYAL_SILK = env_bool("THAIYYAL_SILK", False)
# silk's tables always exist, so turning it on needs no migration; it records only when on.
INSTALLED_APPS += ["silk"]
MIDDLEWARE.insert(1, "workflows.metrics.HttpMetricsMiddleware")
if THAIYYAL_SILK:
    from workflows.silk_hooks import IGNORED_QUERIES, should_profile, should_record

    # After authentication, so a staff user's session can ask for a profile.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
        "workflows.silk_middleware.SilkMiddleware")
    SILKY_INTERCEPT_FUNC = should_record
    SILKY_PYTHON_PROFILER_FUNC = should_profile
    SILKY_MIDDLEWARE_CLASS = "workflows.silk_middleware.SilkMiddleware"
    SILKY_IGNORE_QUERIES = IGNORED_QUERIES  # API token and session keys stay out of silk
SILKY_AUTHENTICATION = True
SILKY_AUTHORISATION = True  # silk's default permission: is_staff
LOGIN_URL = "admin:login"  # where silk (and any login_required page) sends a stranger
SILKY_INTERCEPT_PERCENT = env_int("THAIYYAL_SILK_PERCENT", 10)
SILKY_MAX_REQUEST_BODY_SIZE = env_int("THAIYYAL_SILK_MAX_BODY_BYTES", 16 * 1024)
SILKY_MAX_RESPONSE_BODY_SIZE = env_int("THAIYYAL_SILK_MAX_BODY_BYTES", 16 * 1024)
SILKY_SENSITIVE_KEYS = {"authorization", "cookie", "token", "password", "secret", "api_key",
                        "username"}
SILKY_MAX_RECORDED_REQUESTS = env_int("THAIYYAL_SILK_MAX_REQUESTS", 10_000)
# Never garbage-collect inside a request: `manage.py silk_gc` does it out of band.
SILKY_MAX_RECORDED_REQUESTS_CHECK_PERCENT = 0
SILKY_META = True
# Prometheus scrapes pods over plain HTTP inside the cluster (bearer token, see
# deploy/k8s/servicemonitor.yaml): no HTTPS redirect for /metrics.
SECURE_REDIRECT_EXEMPT = [r"^metrics$"]
LOGGING["formatters"]["json"] = {"()": "workflows.logs.JsonFormatter"}
LOGGING["handlers"]["json"] = {"class": "logging.StreamHandler", "formatter": "json"}
# One JSON line per finished run (run id, workflow, status, duration); THAIYYAL_LOG_FORMAT=json
# makes every log line JSON.
LOGGING["loggers"]["thaiyyal.runs"] = {"handlers": ["json"], "level": "INFO",
                                       "propagate": False}
if env_str("THAIYYAL_LOG_FORMAT", "plain") == "json":
    LOGGING["handlers"]["console"]["formatter"] = "json"

# --- Queue mode (docs/queue.md): `Prefer: respond-async` runs go to Celery workers
# (`thaiyyal worker`) through this broker. Unset: no queue; async requests answer 503
# and everything else works. RabbitMQ is the supported broker (see docs/queue.md).
THAIYYAL_BROKER_URL = env_str("THAIYYAL_BROKER_URL")
CELERY_BROKER_URL = THAIYYAL_BROKER_URL or "memory://"
#: the queue runs are sent to and workers take them from (one per site sharing a broker)
CELERY_TASK_DEFAULT_QUEUE = env_str("THAIYYAL_QUEUE", "thaiyyal")
CELERY_TASK_ACKS_LATE = True                # acknowledged when the run ends...
CELERY_TASK_REJECT_ON_WORKER_LOST = True    # ...and requeued if its process dies
CELERY_WORKER_PREFETCH_MULTIPLIER = 1       # a busy process holds no one else's runs
CELERY_TASK_IGNORE_RESULT = True            # the run's row is the result
CELERY_BROKER_CONNECTION_TIMEOUT = env_int("THAIYYAL_BROKER_CONNECT_TIMEOUT", 2, minimum=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.2,
                                    "interval_step": 0.2}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
#: seconds a queued run's hard time limit exceeds its own (the engine stops it first)
THAIYYAL_QUEUE_GRACE_SECONDS = env_int("THAIYYAL_QUEUE_GRACE_SECONDS", 30, minimum=1)
# A schedule's message comes from beat with no time limit in it (API-queued runs carry
# their own: queueing.publish): the worker gives it its own limit + the grace, so a wedged
# scheduled run is killed and replaced too.
CELERY_TASK_ANNOTATIONS = {"thaiyyal.scheduled_run": {
    "time_limit": float(THAIYYAL_LIMITS["max_execution_time"]) + THAIYYAL_QUEUE_GRACE_SECONDS}}
#: seconds a run may stay `queued` before the reaper marks it failed (`queue_lost`): its
#: message is not coming (the queue purged, the broker's data lost, the web process gone
#: between the insert and the publish). A day by default: far past any backlog a site
#: sized as docs/performance.md says carries, and the QueueBacklogGrowing alert fires
#: after 10 minutes, so a real backlog is dealt with long before. 0: never.
THAIYYAL_QUEUE_STALE_SECONDS = env_int("THAIYYAL_QUEUE_STALE_SECONDS", 86400, minimum=0)
#: the longest run the web tier executes itself: `execution_mode: auto` queues runs whose
#: max_execution_time is longer (default: the server's own limit, i.e. never)
_web_limit = env_str("THAIYYAL_WEB_MAX_EXECUTION_TIME")
THAIYYAL_WEB_MAX_EXECUTION_TIME = parse_duration(_web_limit) if _web_limit else None
#: the key of callbacks' signature header (X-Thaiyyal-Signature); default: derived from
#: SECRET_KEY. Set it to share it with the receivers.
THAIYYAL_CALLBACK_SECRET = env_str("THAIYYAL_CALLBACK_SECRET")
#: attempts to deliver a callback (the first and the retries)
THAIYYAL_CALLBACK_ATTEMPTS = env_int("THAIYYAL_CALLBACK_ATTEMPTS", 5, minimum=1)
#: how often a worker looks for cancel requests of the runs it executes
THAIYYAL_CANCEL_POLL_SECONDS = float(env_str("THAIYYAL_CANCEL_POLL_SECONDS", "0.25"))

# --- Shared state across replicas: with THAIYYAL_REDIS_URL, Django's cache (DRF's
# throttle counts) and the http node's response cache live in Redis, so every process of
# every replica sees the same counts and entries (workflows/shared_cache.py). Without it,
# each process keeps its own (the default; right for one process).
THAIYYAL_REDIS_URL = env_str("THAIYYAL_REDIS_URL")
if THAIYYAL_REDIS_URL:
    CACHES = {"default": {
        # Redis away: per-process counts instead of 500s (workflows/fallback_cache.py)
        "BACKEND": "workflows.fallback_cache.RedisCacheWithFallback",
        "LOCATION": THAIYYAL_REDIS_URL,
        # sites sharing a Redis keep apart by prefix
        "KEY_PREFIX": env_str("THAIYYAL_CACHE_PREFIX", "thaiyyal"),
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
    }}
