"""Settings, read only from environment variables (django-environ).

Every value has an embedded default that runs the platform on one machine with nothing else:
SQLite, Celery inline, locmem cache, console email, the sandbox payment gateway. The variables
DATABASE_URL, CELERY_BROKER_URL, CACHE_URL and EMAIL_URL switch to PostgreSQL, Redis and SMTP.
DJANGO_ENV=production demands a SECRET_KEY and turns on every deployment safeguard.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
if DJANGO_ENV not in ("development", "production"):
    raise ImproperlyConfigured(f"DJANGO_ENV must be 'development' or 'production', not {DJANGO_ENV!r}.")
PRODUCTION = DJANGO_ENV == "production"


def _secret(name: str, default: str | None = None) -> str | None:
    """A secret from NAME, or from the file named by NAME_FILE (for container secrets)."""
    path = env.str(f"{name}_FILE", default="")
    if path:
        return Path(path).read_text().strip()
    return env.str(name, default=default)


SECRET_KEY = _secret("SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DJANGO_ENV=production the platform will not start without "
            "one: set SECRET_KEY (or SECRET_KEY_FILE) to a random string of 50 or more characters."
        )
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production-0123456789abcdef"

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_NAME = env.str("SITE_NAME", default="Chatbot Platform")
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")  # for links in emails sent by tasks

INSTALLED_APPS = [
    # The staff console's theme (issue 16): Django's admin, restyled, its sidebar by the staff's work.
    "unfold.apps.BasicAppConfig",  # the theme only: the site is ours (config.admin)
    "config.apps.PlatformAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_filters",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.facebook",
    "allauth.socialaccount.providers.twitter_oauth2",
    "core",
    "compliance",
    "accounts",
    "projects",
    "billing",
]

MIDDLEWARE = [
    # First: every answer, even a redirect to HTTPS or an outage's 503, has its X-Request-ID and
    # its access log line (issue 17, item 6).
    "core.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The Content-Security-Policy of every page (SECURE_CSP below), its nonce in `csp_nonce`.
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "core.middleware.ContentSecurityPolicyOverrides",  # the staff console's own policy
    # An outage (database, Redis, broker unreachable) answers 503, never a bare 500 (issue 17).
    "core.outage.OutageMiddleware",
    # Bad characters in the path, query or headers are 400, a body method without its trailing
    # slash 308, and every error under /api/ JSON, before the session or APPEND_SLASH (issue 17).
    "core.edge.EdgeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The browser's language first (Accept-Language, or the cookie the switch sets) ...
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # ... and a signed-in client's own choice over it (issue 14).
    "accounts.middleware.ClientLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

if PRODUCTION:
    # Static files are served by the app itself behind the proxy; runserver serves them in development.
    MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "whitenoise.middleware.WhiteNoiseMiddleware")

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
                "django.template.context_processors.csp",  # csp_nonce, for inline scripts and styles
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.site",
                "compliance.context_processors.legal_notice",
                "compliance.context_processors.cookie_banner",
            ],
            "builtins": ["core.templatetags.money", "django_htmx.templatetags.django_htmx", "django.templatetags.i18n"],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60 if PRODUCTION else 0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
# On Redis, the cache fails open when Redis is down (rate limits and lockouts count nothing for that
# long) rather than answering 500 (issue 17, item 5): core/cache.py says why.
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "core.cache.ResilientRedisCache"

# Django 6.1's MAILERS, built from one URL (smtp://user:pass@host:587 , smtp+tls://..., consolemail://).
_email = env.email_url("EMAIL_URL", default="smtp://localhost:25" if PRODUCTION else "consolemail://")
_smtp_options = {
    "host": _email.get("EMAIL_HOST"),
    "port": _email.get("EMAIL_PORT"),
    "username": _email.get("EMAIL_HOST_USER"),
    "password": _email.get("EMAIL_HOST_PASSWORD"),
    "use_tls": _email.get("EMAIL_USE_TLS"),
    "use_ssl": _email.get("EMAIL_USE_SSL"),
    "timeout": env.int("EMAIL_TIMEOUT", default=10),
}
MAILERS = {
    "default": {
        "BACKEND": _email["EMAIL_BACKEND"],
        "OPTIONS": {k: v for k, v in _smtp_options.items() if v not in (None, "")}
        if _email["EMAIL_BACKEND"].endswith("smtp.EmailBackend")
        else {},
    }
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="no-reply@platform.local")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# The largest body read (issue 17): Django's own check for forms, core.api's parsers for the API and
# the Telegram webhook alike. A 10,000-row import is about 1 MB.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=5 * 1024 * 1024)
# The technical 500 page of development hides addresses with credentials and the process environment.
DEFAULT_EXCEPTION_REPORTER_FILTER = "core.edge.SafeReporterFilter"

AUTH_USER_MODEL = "accounts.Client"
AUTHENTICATION_BACKENDS = [
    "accounts.backends.LockoutModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard:overview"
LOGOUT_REDIRECT_URL = "account_login"

# Sign-in lockout (ACC-2): this many failures for one email within the window lock it for the window.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=15 * 60)

# Sessions: "remember me" keeps the session this long; otherwise it ends with the browser (ACC-2).
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=int(timedelta(days=30).total_seconds()))

# django-allauth: email is the login; a verification link is mailed at registration (ACC-1).
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_EMAIL_VERIFICATION = "optional"  # sign-in works at once; PRO waits for verification (ACC-1)
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_SESSION_REMEMBER = None  # ask: the "remember me" box
ACCOUNT_UNIQUE_EMAIL = True
# The API must answer a taken email with 400 (API.md), so the dashboard may say so too.
ACCOUNT_PREVENT_ENUMERATION = False
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_FORMS = {"signup": "accounts.forms.SignupForm"}
ACCOUNT_RATE_LIMITS = {"login_failed": False}  # our LockoutModelBackend is the one lockout for web and API
ACCOUNT_EMAIL_SUBJECT_PREFIX = f"[{SITE_NAME}] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if PRODUCTION else "http"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = SITE_NAME
SOCIALACCOUNT_AUTO_SIGNUP = False  # social sign-up still shows the form with the terms and age boxes
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
SOCIALACCOUNT_FORMS = {"signup": "accounts.forms.SocialSignupForm"}
SOCIALACCOUNT_PROVIDERS = {}
for _provider in ("google", "facebook", "twitter_oauth2"):
    _client_id = env.str(f"SOCIAL_{_provider.upper()}_CLIENT_ID", default="")
    if _client_id:
        SOCIALACCOUNT_PROVIDERS[_provider] = {
            "APPS": [{"client_id": _client_id, "secret": _secret(f"SOCIAL_{_provider.upper()}_SECRET", "")}]
        }

# Staff reach the admin only with two-factor authentication on, in production (issue 3).
ADMIN_REQUIRES_2FA = env.bool("ADMIN_REQUIRES_2FA", default=PRODUCTION)
# The staff console's theme (django-unfold): its fonts and scripts are its own static files.
UNFOLD = {
    "SITE_TITLE": "Back office",
    "SITE_HEADER": "Back office",
    "SITE_SUBHEADER": "Staff console",
    "SITE_SYMBOL": "forum",
    # No icon file: an empty one, so that browsers do not ask for /favicon.ico (a 404 on every page).
    "SITE_FAVICONS": [{"rel": "icon", "href": "data:,"}],
    "SHOW_HISTORY": True,
    "SIDEBAR": {"show_search": True, "show_all_applications": False, "navigation": "config.console.sidebar"},
    "DASHBOARD_CALLBACK": "config.dashboard.index",
}

# English and Ukrainian (most of the operator's clients read Ukrainian); compiled by `make`.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("uk", "Українська")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# The billing day and the night are computed in this fixed zone (RULES.md: UTC+2, no DST).
BILLING_TIME_ZONE = "Etc/GMT-2"
# Whose public holidays seed the working-day calendar of complaint deadlines (CMP-4).
HOLIDAY_COUNTRY = env.str("HOLIDAY_COUNTRY", default="DE")

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# How many proxies of ours stand before the app: the caller is the Nth X-Forwarded-For address from
# the right; 0, the socket's address (core/client_ip.py, issue 17 item 4).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 0 or more.")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First, so that a missing credential answers 401 with WWW-Authenticate: Bearer.
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttling.ApiKeyRateThrottle"],
    # DRF's own get_ident (any throttle not ours) trusts the whole X-Forwarded-For when unset.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    # Per IP, for the endpoints that take no key. Loose outside production, where one machine
    # (a developer, a test suite) is every visitor; the per-email sign-in lockout holds everywhere.
    "DEFAULT_THROTTLE_RATES": {
        "register": env.str("THROTTLE_REGISTER", default="30/hour" if PRODUCTION else "1000/hour"),
        "token": env.str("THROTTLE_TOKEN", default="60/min" if PRODUCTION else "1000/min"),
        "recovery": env.str("THROTTLE_RECOVERY", default="10/hour" if PRODUCTION else "1000/hour"),
        # The pop-up subscription form on clients' sites (issue 4).
        "popup": env.str("THROTTLE_POPUP", default="20/min" if PRODUCTION else "1000/min"),
    },
    "DEFAULT_PAGINATION_CLASS": "core.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # JSON only: the API is read in Swagger UI (/api/docs/). DRF's browsable pages would need a
    # serializer on every view, which ours (serializers per method) do not declare.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # ... and a caller asking for another type (a browser's text/html) gets the JSON, not a 406.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "core.parsers.JsonFallbackNegotiation",
    # Bodies bounded in size, depth, text and integers before a serializer reads them (issue 17).
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser", "core.parsers.FormParser", "core.parsers.MultiPartParser"],
    "DEFAULT_METADATA_CLASS": "core.api.Metadata",
    # drf-spectacular's, with every error status an operation can answer (issue 17).
    "DEFAULT_SCHEMA_CLASS": "core.schema.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": f"{SITE_NAME} API",
    "DESCRIPTION": "Clients, projects, subscribers and billing. Authenticate with `Authorization: Bearer <key>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from our own static files (drf-spectacular-sidecar): nothing from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The Telegram webhook (a plain Django view, not DRF) in the schema too (issue 17).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "projects.schema.telegram_webhook"],
    "ENUM_NAME_OVERRIDES": {
        "PeriodEnum": "billing.models.Period",
        "BlockReasonEnum": "accounts.models.Client.BlockReason",
        "ProjectRestrictionReasonEnum": "projects.models.ProjectRestriction.Reason",
    },
}

# API keys (ACC-5): the operator's published limit, and the lock for keys that keep exceeding it.
API_KEY_RATE_LIMIT_PER_MINUTE = env.int("API_KEY_RATE_LIMIT_PER_MINUTE", default=180)
API_KEY_LOCK_STEP_SECONDS = 60
API_KEY_LOCK_MAX_SECONDS = 720
# The pop-up form's limit per project, whatever the callers' addresses (issue 17, item 4).
POPUP_PROJECT_RATE = env.str("POPUP_PROJECT_RATE", default="60/min")

# Celery: inline (eager) unless a broker is named.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="memory://")
# The night collects its chunks' results: with Redis as the broker, Redis keeps them too.
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "") or None
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=CELERY_BROKER_URL.startswith("memory"))
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A publish to a dead broker fails within about a second (issue 17, item 5): what `enqueue` could
# not hand over stays in the outbox (core/outbox.py) and beat's `relay-outbox` sends it once Redis
# is back. A request never waits on the broker's reconnection loop.
CELERY_BROKER_CONNECTION_TIMEOUT = 1

# Payments (CARD-3): the sandbox behaves like a real gateway in test mode.
PAYMENT_GATEWAY = env.str("PAYMENT_GATEWAY", default="sandbox")
STRIPE_API_KEY = env.str("STRIPE_API_KEY", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")  # another address for the API (tests)
# The sandbox's latency per charge, to show what a real gateway's ~300 ms does to the night.
SANDBOX_LATENCY_MS = env.int("SANDBOX_LATENCY_MS", default=0)
# How many of a night chunk's card collections are in flight at once (each with its own key and
# attempt). On SQLite calls stay one at a time: its writers would wait on one another.
BILLING_COLLECTION_CONCURRENCY = env.int("BILLING_COLLECTION_CONCURRENCY", default=16)
# The Celery queue the night's chunks go to ('': the default queue). Give them workers of their
# own (`celery worker -Q night`): on a shared queue a chunk waits behind the mail the chunks
# before it queued (a worst night's 20,000 renewal notices), and the night with it.
NIGHT_QUEUE = env.str("NIGHT_QUEUE", default="")
# A night run in one process (the beat's, in its worker; `run_nightly --inline`) applies this
# many chunks at once, each on its own database connection: while one waits on PostgreSQL another
# builds its rows (bench/README.md). 1: one after another. Always 1 on SQLite and inside a
# transaction (a test's), where other connections would not see its rows.
NIGHT_INLINE_CONCURRENCY = env.int("NIGHT_INLINE_CONCURRENCY", default=2)
# A night chunk takes seconds (bench/README.md: 2,000 renewals ~1 s; 1,000 collections at a real
# gateway's 300 ms, 16 at once, ~20 s): killed past the hard limit. A chunk seen started and not
# back that long after (its worker killed), or no chunk moving for as long (no worker left), is run
# by the night itself: chunks are idempotent (ClientNight), so a late copy finds it done (issue 17).
NIGHT_CHUNK_TIME_LIMIT = env.int("NIGHT_CHUNK_TIME_LIMIT", default=300)
NIGHT_CHUNK_LOST_AFTER = env.int("NIGHT_CHUNK_LOST_AFTER", default=NIGHT_CHUNK_TIME_LIMIT + 30)
# A running night's record with no sign of life this long (and, on PostgreSQL, its lock free) was
# killed: the next run closes it as interrupted with its true counts.
NIGHT_STALE_AFTER = env.int("NIGHT_STALE_AFTER", default=15 * 60)
# Redis hands an unacknowledged task (its worker killed) to another worker after this long, the
# default an hour: longer than any chunk may run (a running one is never handed out twice), short
# enough that a lost one is back within minutes, should the night not have run it itself already.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=15 * 60)}
# Connecting to Redis takes a second at most (issue 17, item 5: no request hangs on a dead broker).
CELERY_BROKER_TRANSPORT_OPTIONS["socket_connect_timeout"] = 1

# Messaging (MSG-1): the channel port's Telegram adapter, its limits and the shared limiter.
MESSAGING_CHANNEL = env.str("MESSAGING_CHANNEL", default="telegram")
TELEGRAM_API_BASE_URL = env.str("TELEGRAM_API_BASE_URL", default="https://api.telegram.org").rstrip("/")
TELEGRAM_TIMEOUT_SECONDS = env.float("TELEGRAM_TIMEOUT_SECONDS", default=10.0)
TELEGRAM_PER_BOT_PER_SECOND = env.int("TELEGRAM_PER_BOT_PER_SECOND", default=30)
TELEGRAM_PER_CHAT_PER_SECOND = env.int("TELEGRAM_PER_CHAT_PER_SECOND", default=1)
TELEGRAM_PER_GROUP_PER_MINUTE = env.int("TELEGRAM_PER_GROUP_PER_MINUTE", default=20)
# The limiter's windows are this much longer than Telegram's, so that the time between taking a
# slot and the request's arrival (up to ~140 ms for a worker thread's first call, bench/broadcast.py)
# never lets Telegram see more than its limit in a window.
TELEGRAM_LIMIT_MARGIN = env.float("TELEGRAM_LIMIT_MARGIN", default=0.2)
# Workers on several machines share one limiter in Redis; with no Redis, one in the process.
MESSAGING_LIMITER_URL = env.str(
    "MESSAGING_LIMITER_URL",
    default=next((url for url in (CELERY_BROKER_URL, env.str("CACHE_URL", default="")) if url.startswith(("redis://", "rediss://"))), ""),
)
# Bot tokens are encrypted at rest (core.crypto): the first key encrypts, all decrypt (rotation).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

# Logs (issue 17, item 6, core.logging): JSON lines in production or with LOG_FORMAT=json, plain
# text otherwise; every line with its request id, client id and night chunk, secrets redacted.
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if PRODUCTION else "text")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'json' or 'text', not {LOG_FORMAT!r}.")
LOG_REQUESTS = env.bool("LOG_REQUESTS", default=True)  # one access line a request (core.middleware)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "core.logging.RequestContext"},
        "redact": {"()": "core.logging.RedactSecrets"},
    },
    "formatters": {"json": {"()": "core.logging.JsonFormatter"}, "text": {"()": "core.logging.TextFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["context", "redact"], "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's loggers through ours only (its own console handler would print them again, unredacted).
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        # httpx logs every request it makes at INFO: a broadcast's every message. Its failures show.
        "httpx": {"level": "WARNING"},
    },
}
# Workers log through the same handler (JSON in production) instead of Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# /health/ for the load balancer (issue 17, item 6; core.health): 200, or 503 naming what failed.
HEALTH_CHECKS = [
    "core.health.Database",
    "core.health.Cache",
    "core.health.Broker",
    "core.health.MigrationsApplied",
    "billing.health.LastNight",
]
# /health/ready/ for the load balancer's probe: what this node needs to serve requests. Not the
# broker, the cache or the night: their outage is every node's at once, and requests still work.
HEALTH_READY_CHECKS = [
    "core.health.Database",
    "core.health.MigrationsApplied",
]

# Headers of every page, in every environment (issue 17, item 6): no framing, no MIME sniffing,
# the referrer kept to our own pages, a window of ours never shared with another site's.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# The Content-Security-Policy (Django's own, django.middleware.csp): our scripts and styles only,
# inline ones by the request's nonce (`csp_nonce` in templates); style="…" attributes allowed
# (the dashboard's bars set their width so). Enforced in production; report-only in development,
# where a violation shows in the browser's console (tests/browser/test_csp.py enforces it) yet breaks
# nothing, Django's debug pages included. CSP_MODE=enforce|report-only|off overrides.
_SOCIAL_SIGN_IN_ORIGINS = {
    "google": ["https://accounts.google.com"],
    "facebook": ["https://www.facebook.com"],
    "twitter_oauth2": ["https://twitter.com", "https://x.com"],
}
CONTENT_SECURITY_POLICY = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "style-src-attr": [CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    # Sign-in with a provider posts here, then goes to the provider's page.
    "form-action": [CSP.SELF, *(o for p in SOCIALACCOUNT_PROVIDERS for o in _SOCIAL_SIGN_IN_ORIGINS.get(p, []))],
}
# The staff console's theme (django-unfold) runs Alpine.js, which evaluates its attributes as code,
# and sets inline styles: 'unsafe-eval' and inline styles there, under /admin/ only.
CSP_PATH_OVERRIDES = {
    "/admin/": {
        **CONTENT_SECURITY_POLICY,
        "script-src": [CSP.SELF, CSP.NONCE, CSP.UNSAFE_EVAL],
        "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    },
}
CSP_MODE = env.str("CSP_MODE", default="enforce" if PRODUCTION else "report-only")
if CSP_MODE not in ("enforce", "report-only", "off"):
    raise ImproperlyConfigured(f"CSP_MODE must be 'enforce', 'report-only' or 'off', not {CSP_MODE!r}.")
SECURE_CSP = CONTENT_SECURITY_POLICY if CSP_MODE == "enforce" else {}
SECURE_CSP_REPORT_ONLY = CONTENT_SECURITY_POLICY if CSP_MODE == "report-only" else {}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # The load balancer probes over plain HTTP inside the network: answered, not redirected.
    SECURE_REDIRECT_EXEMPT = [r"^health/(ready/)?$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
