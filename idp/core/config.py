"""Configuration: the one place that reads the environment."""

from __future__ import annotations

import base64
import os
import re
import secrets
import urllib.parse
import zoneinfo
from pathlib import Path

import limits

DEVELOPMENT = "development"
PRODUCTION = "production"


class ConfigurationError(RuntimeError):
    """The configuration cannot run safely; the message says what to set."""


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {raw!r}") from None


def admin_identity() -> dict:
    """Who runs an operator command, for the audit log: read when the command runs, since it
    is the person's, not the deployment's. TILLID_ADMIN names the person behind a shared
    account (claimed, not proven); sudo sets SUDO_USER."""
    return {
        "actor": os.environ.get("TILLID_ADMIN") or None,
        "sudo_user": os.environ.get("SUDO_USER") or None,
    }


def _instance_secret(instance_path: Path, filename: str, make) -> str:
    """Read a development secret from instance/, creating it once (mode 0600)."""
    path = instance_path / filename
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    value = make()
    # O_EXCL: two processes starting at once must not each write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def _new_data_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def _normalise_database_url(url: str) -> str:
    # psycopg 3 is the driver; accept the URLs operators already have.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


REDIS_CLUSTER_SCHEME = "redis+cluster"
_REDIS_SCHEMES = ("redis", "rediss", "unix", REDIS_CLUSTER_SCHEME)


def redis_cluster(url: str | None) -> dict | None:
    """The client options of a Redis Cluster ``REDIS_URL`` (None: not a cluster URL).

    The form is the rate-limit library's, so one URL serves the store and the limiter:
    ``redis+cluster://[[user]:password@]host:port[,host:port...][/]``; each host is a startup
    node (any one that answers is enough, the client learns the others from it).
    """
    if not url or _scheme(url) != REDIS_CLUSTER_SCHEME:
        return None
    form = "redis+cluster://host:port,host:port/"
    try:
        parsed = urllib.parse.urlsplit(url)
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        raise ConfigurationError(f"REDIS_URL: not a cluster URL ({form})") from None
    if parsed.query or parsed.fragment:
        raise ConfigurationError(f"REDIS_URL: a cluster URL takes no options ({form})")
    if parsed.path not in ("", "/", "/0"):
        # Repeated only when it is a database number: a "/" in a password starts the path.
        database = f", not {parsed.path[1:]!r}" if parsed.path[1:].isdecimal() else ""
        raise ConfigurationError(
            f"REDIS_URL: a Redis Cluster has only database 0{database} ({form})"
        )
    credentials, _, locations = parsed.netloc.rpartition("@")
    nodes = []
    for location in locations.split(","):
        try:
            node = urllib.parse.urlsplit(f"//{location.strip()}")
            host, port = node.hostname, node.port
        except ValueError:
            host = port = None
        if not host or not port:
            raise ConfigurationError(
                f"REDIS_URL: {location!r} is not a host:port of a cluster node ({form})"
            )
        nodes.append((host, port))
    options: dict = {"startup_nodes": nodes}
    if credentials:
        # Verbatim (no percent-decoding), as the rate limiter reads them from the same URL.
        username, _, password = credentials.partition(":")
        options.update({k: v for k, v in (("username", username), ("password", password)) if v})
    return options


_SCHEME_RE = re.compile(r"[a-z][a-z0-9+.-]*")


def _scheme(url: str) -> str:
    """The URL's scheme, lowercased, as urlsplit reads it (but never raising); "" if none."""
    scheme, separator, _ = url.partition("://")
    scheme = scheme.lower()
    return scheme if separator and _SCHEME_RE.fullmatch(scheme) else ""


def _check_redis(config: dict) -> None:
    url = config["REDIS_URL"]
    if not url:
        return
    scheme = _scheme(url)
    if scheme not in _REDIS_SCHEMES:
        # Only the scheme is repeated back: the rest of the URL may hold a password.
        raise ConfigurationError(
            "REDIS_URL must be a URL that starts with redis://, rediss://, unix:// or "
            "redis+cluster://" + (f", not {scheme}://" if scheme else "")
        )
    prefix = config["STORE_KEY_PREFIX"]
    if redis_cluster(url) and ("{" in prefix or "}" in prefix):
        # A {...} in the prefix would be every key's hash tag: all keys in one slot.
        raise ConfigurationError("TILLID_STORE_PREFIX cannot contain { or } on a Redis Cluster")


RATE_LIMITS = (
    "LOGIN_RATE_LIMIT",
    "TOKEN_RATE_LIMIT",
    "TOKEN_RATE_LIMIT_PER_CLIENT",
    "USERINFO_RATE_LIMIT",
    "API_RATE_LIMIT",
)


def _check_rate_limits(config: dict) -> None:
    """Each limit must parse: an unreadable one would otherwise be skipped (the login's, by
    Flask-Limiter, with only a log line) or fail every request it guards."""
    for name in RATE_LIMITS:
        value = config[name]
        try:
            parsed = limits.parse_many(value) if isinstance(value, str) else []
        except ValueError:
            parsed = []
        if not parsed or any(limit.amount < 1 for limit in parsed):
            raise ConfigurationError(
                f"{name} must be a rate limit such as '600 per minute' or "
                f"'20 per minute;200 per hour', not {value!r}"
            )


# Bounded waits on PostgreSQL, in seconds (idp/core/database.py applies them; docs/operations.md,
# "Outages and crashes", says why these). 0 turns one off, except the connection's: libpq
# waits 2 s at least.
DATABASE_TIMEOUTS = {
    "DATABASE_CONNECT_TIMEOUT": 3,
    "DATABASE_STATEMENT_TIMEOUT": 5,
    "DATABASE_LOCK_TIMEOUT": 2,
    "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT": 30,
}


# argon2id for passwords: 7 MiB, 5 passes, 1 lane (memory in KiB), one of OWASP's minimum
# configurations (Password Storage Cheat Sheet) and Keycloak's default. docs/security.md,
# "Password hashing", says why and what it costs.
ARGON2_DEFAULTS = {
    "ARGON2_TIME_COST": 5,
    "ARGON2_MEMORY_COST": 7 * 1024,
    "ARGON2_PARALLELISM": 1,
}


def load(instance_path: str, overrides: dict | None = None) -> dict:
    """Build the Flask config from the environment, then apply ``overrides`` (tests)."""
    overrides = overrides or {}
    env = overrides.get("TILLID_ENV", os.environ.get("TILLID_ENV", DEVELOPMENT))
    if env not in (DEVELOPMENT, PRODUCTION):
        raise ConfigurationError(f"TILLID_ENV must be {DEVELOPMENT!r} or {PRODUCTION!r}")
    instance = Path(instance_path)
    production = env == PRODUCTION

    database_url = os.environ.get("DATABASE_URL") or ""
    redis_url = os.environ.get("REDIS_URL") or None
    secret_key = os.environ.get("SECRET_KEY") or None
    data_key = os.environ.get("TILLID_DATA_KEY") or None

    if not production:
        database_url = database_url or f"sqlite:///{instance / 'tillid.db'}"
        if "SECRET_KEY" not in overrides:
            secret_key = secret_key or _instance_secret(
                instance, "secret_key", lambda: secrets.token_urlsafe(48)
            )
        if "TILLID_DATA_KEY" not in overrides:
            data_key = data_key or _instance_secret(instance, "data_key", _new_data_key)

    config = {
        "TILLID_ENV": env,
        "SQLALCHEMY_DATABASE_URI": _normalise_database_url(database_url),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        **{name: _env_int(name, default) for name, default in DATABASE_TIMEOUTS.items()},
        "REDIS_URL": redis_url,
        "STORE_KEY_PREFIX": os.environ.get("TILLID_STORE_PREFIX", "tillid:"),
        "ISSUER": os.environ.get("ISSUER", "http://localhost:5000").rstrip("/"),
        "SECRET_KEY": secret_key,
        "TILLID_DATA_KEY": data_key,
        "SESSION_IDLE_TIMEOUT": _env_int("SESSION_IDLE_TIMEOUT", 30 * 60),
        "SESSION_ABSOLUTE_TIMEOUT": _env_int("SESSION_ABSOLUTE_TIMEOUT", 8 * 60 * 60),
        # How old the session's last second factor may be for a sensitive change (adding or
        # removing an authenticator, new recovery codes, the password): as banks do, minutes.
        "FRESH_SECOND_FACTOR_SECONDS": _env_int("FRESH_SECOND_FACTOR_SECONDS", 5 * 60),
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "20 per minute;200 per hour"),
        # The machine endpoints' budgets (idp/core/rate_limits.py): per source address for what no
        # credential vouches for; per client (or citizen) once a credential checked out.
        "TOKEN_RATE_LIMIT": os.environ.get("TOKEN_RATE_LIMIT") or "1200 per minute",
        "TOKEN_RATE_LIMIT_PER_CLIENT": (
            os.environ.get("TOKEN_RATE_LIMIT_PER_CLIENT") or "20000 per minute"
        ),
        "USERINFO_RATE_LIMIT": os.environ.get("USERINFO_RATE_LIMIT") or "20000 per minute",
        "API_RATE_LIMIT": os.environ.get("API_RATE_LIMIT") or "6000 per minute",
        "LEDGER_RETENTION_DAYS": _env_int("LEDGER_RETENTION_DAYS", 5 * 365),
        # Phone approvals one citizen may start per 10 minutes (MFA-fatigue protection).
        "PHONE_REQUEST_RATE_LIMIT": _env_int("PHONE_REQUEST_RATE_LIMIT", 5),
        # How long a phone approval (or a CIBA request) waits for the citizen.
        "PHONE_REQUEST_SECONDS": _env_int("PHONE_REQUEST_SECONDS", 120),
        "LEDGER_INTEGRATE_SECONDS": _env_int("LEDGER_INTEGRATE_SECONDS", 10),
        # Back-Channel Logout (docs/backchannel-logout.md): how often each worker looks for
        # ended sessions and due logout tokens (0: never; `flask logout deliver` then), how
        # long one POST may take, the first wait after a failure (doubling, at most an hour)
        # and how long after the session ended Tillid keeps trying.
        "BACKCHANNEL_LOGOUT_SECONDS": _env_int("BACKCHANNEL_LOGOUT_SECONDS", 5),
        "BACKCHANNEL_LOGOUT_TIMEOUT": _env_int("BACKCHANNEL_LOGOUT_TIMEOUT", 5),
        "BACKCHANNEL_LOGOUT_FIRST_RETRY_SECONDS": _env_int(
            "BACKCHANNEL_LOGOUT_FIRST_RETRY_SECONDS", 10
        ),
        "BACKCHANNEL_LOGOUT_RETRY_SECONDS": _env_int(
            "BACKCHANNEL_LOGOUT_RETRY_SECONDS", 24 * 60 * 60
        ),
        # Passkeys are bound to this domain and page origin (default: the issuer's).
        "WEBAUTHN_RP_ID": os.environ.get("WEBAUTHN_RP_ID") or None,
        "WEBAUTHN_ORIGIN": os.environ.get("WEBAUTHN_ORIGIN") or None,
        "LOCKOUT_THRESHOLD": _env_int("LOCKOUT_THRESHOLD", 5),
        "LOCKOUT_BASE_SECONDS": _env_int("LOCKOUT_BASE_SECONDS", 30),
        "LOCKOUT_MAX_SECONDS": _env_int("LOCKOUT_MAX_SECONDS", 60 * 60),
        **{name: _env_int(name, default) for name, default in ARGON2_DEFAULTS.items()},
        "ACTIVATION_CODE_DAYS": _env_int("ACTIVATION_CODE_DAYS", 30),
        "ACCESS_TOKEN_SECONDS": _env_int("ACCESS_TOKEN_SECONDS", 5 * 60),
        # DPoP proofs must carry a server nonce (RFC 9449 8): a stolen proof expires with it.
        "DPOP_REQUIRE_NONCE": os.environ.get("DPOP_REQUIRE_NONCE", "1") != "0",
        "ID_TOKEN_SECONDS": _env_int("ID_TOKEN_SECONDS", 10 * 60),
        "REFRESH_TOKEN_SECONDS": _env_int("REFRESH_TOKEN_SECONDS", 30 * 24 * 60 * 60),
        # A new signing key is published this long before it signs (JWKS caches refresh)…
        "KEY_ROTATION_GRACE_SECONDS": _env_int("KEY_ROTATION_GRACE_SECONDS", 60 * 60),
        # …and a retired one stays published this long after, until what it signed expired.
        "KEY_RETIRED_PUBLISH_SECONDS": _env_int("KEY_RETIRED_PUBLISH_SECONDS", 24 * 60 * 60),
        # A wallet credential (the PID) is valid this long; a retired credential key stays
        # published as long, so every credential it signed still verifies (docs/wallet.md).
        "PID_VALIDITY_DAYS": _env_int("PID_VALIDITY_DAYS", 90),
        # How long a credential offer from the portal (its QR code and transaction code)
        # can be redeemed by a wallet.
        "WALLET_OFFER_SECONDS": _env_int("WALLET_OFFER_SECONDS", 300),
        # The PID's issuing_authority: the authority that answers for it (PID rulebook).
        "PID_ISSUING_AUTHORITY": os.environ.get("PID_ISSUING_AUTHORITY", "Tillid"),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO").upper(),
        # A request body larger than this is refused with 413 before it is parsed.
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "MAX_FORM_MEMORY_SIZE": 64 * 1024,
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the browser session
        # Flask-WTF's https Referer check cannot work beside Referrer-Policy: no-referrer
        # (browsers then send no Referer); the token and SameSite=Lax cookies carry CSRF.
        "WTF_CSRF_SSL_STRICT": False,
        "TRUSTED_PROXY_COUNT": _env_int("TRUSTED_PROXY_COUNT", 0),
        # Pages speak Danish unless the citizen or the service asks otherwise (idp/i18n.py).
        "DEFAULT_LANGUAGE": os.environ.get("DEFAULT_LANGUAGE", "da"),
        # Times shown to citizens are Danish time; tokens and the ledger stay in UTC.
        "BABEL_DEFAULT_TIMEZONE": os.environ.get("DISPLAY_TIMEZONE", "Europe/Copenhagen"),
        # tillid_client_tokens_issued_total: tokens counted by client id too (docs/metrics.md).
        "METRICS_PER_CLIENT": os.environ.get("METRICS_PER_CLIENT", "0") == "1",
        # No X-RateLimit-* on every answer (two store calls each); a 429 has Retry-After.
        "RATELIMIT_HEADERS_ENABLED": False,
    }
    config.update(overrides)
    config["BABEL_DEFAULT_LOCALE"] = config["DEFAULT_LANGUAGE"]
    config["SQLALCHEMY_DATABASE_URI"] = _normalise_database_url(config["SQLALCHEMY_DATABASE_URI"])
    _check(config)
    return config


def _check(config: dict) -> None:
    missing = [name for name in ("SECRET_KEY", "TILLID_DATA_KEY") if not config.get(name)]
    if missing:
        raise ConfigurationError(
            f"{' and '.join(missing)} must be set when TILLID_ENV=production "
            "(generate with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if not config["SQLALCHEMY_DATABASE_URI"]:
        raise ConfigurationError("DATABASE_URL must be set when TILLID_ENV=production")
    if config["TILLID_ENV"] == PRODUCTION:
        if config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
            raise ConfigurationError("SQLite is for development; set DATABASE_URL to PostgreSQL")
        if not config["REDIS_URL"]:
            raise ConfigurationError(
                "the embedded in-process store is for development; set REDIS_URL"
            )
        if not issuer_is_https(config):
            raise ConfigurationError("ISSUER must be an https URL when TILLID_ENV=production")
    _check_redis(config)
    _check_rate_limits(config)
    if config["DEFAULT_LANGUAGE"] not in ("da", "en"):
        raise ConfigurationError("DEFAULT_LANGUAGE must be da or en")
    try:
        zoneinfo.ZoneInfo(config["BABEL_DEFAULT_TIMEZONE"])
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"DISPLAY_TIMEZONE {config['BABEL_DEFAULT_TIMEZONE']!r} is not a known time zone"
        ) from None
    if config["DATABASE_CONNECT_TIMEOUT"] < 2:
        raise ConfigurationError("DATABASE_CONNECT_TIMEOUT must be at least 2 (seconds)")
    for name in DATABASE_TIMEOUTS:
        if config[name] < 0:
            raise ConfigurationError(f"{name} cannot be negative (0 turns it off)")
    if config["TRUSTED_PROXY_COUNT"] < 0:
        raise ConfigurationError("TRUSTED_PROXY_COUNT cannot be negative")
    for name in ("SESSION_IDLE_TIMEOUT", "SESSION_ABSOLUTE_TIMEOUT", "FRESH_SECOND_FACTOR_SECONDS"):
        if config[name] <= 0:
            raise ConfigurationError(f"{name} must be positive")
    for name in ("BACKCHANNEL_LOGOUT_TIMEOUT", "BACKCHANNEL_LOGOUT_FIRST_RETRY_SECONDS"):
        if config[name] <= 0:
            raise ConfigurationError(f"{name} must be positive")
    for name in ("BACKCHANNEL_LOGOUT_SECONDS", "BACKCHANNEL_LOGOUT_RETRY_SECONDS"):
        if config[name] < 0:
            raise ConfigurationError(f"{name} cannot be negative")
    if config["SESSION_IDLE_TIMEOUT"] > config["SESSION_ABSOLUTE_TIMEOUT"]:
        raise ConfigurationError("SESSION_IDLE_TIMEOUT cannot exceed SESSION_ABSOLUTE_TIMEOUT")
    if not config["ISSUER"].startswith(("https://", "http://localhost", "http://127.0.0.1")):
        raise ConfigurationError("ISSUER must be https (plain http only on localhost)")


def issuer_is_https(config) -> bool:
    return config["ISSUER"].startswith("https://")


# The exporters serve.py can send traces through (OTEL_TRACES_EXPORTER): OTLP over HTTP (with
# protobuf; the gRPC exporter's native dependencies are not installed) and the console.
TRACE_EXPORTERS = ("otlp", "console")


def tracing_configured(environ=None) -> bool:
    """Whether the standard OpenTelemetry variables ask for traces (docs/tracing.md): an
    exporter named in OTEL_TRACES_EXPORTER (other than `none`), or an OTLP endpoint, unless
    OTEL_SDK_DISABLED is true. Read by serve.py's workers only, never per request."""
    environ = os.environ if environ is None else environ
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = trace_exporters(environ)
    if exporters is not None:
        return bool(exporters)
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    )


def trace_exporters(environ=None) -> tuple[str, ...] | None:
    """OTEL_TRACES_EXPORTER's exporters (`none` leaves none), or None when it is unset. One
    Tillid cannot send through is refused rather than silently dropped."""
    environ = os.environ if environ is None else environ
    raw = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not raw:
        return None
    names = tuple(dict.fromkeys(name.strip() for name in raw.split(",") if name.strip()))
    unknown = [name for name in names if name not in (*TRACE_EXPORTERS, "none")]
    if unknown:
        raise ConfigurationError(
            f"OTEL_TRACES_EXPORTER: {', '.join(unknown)} is not available; "
            f"use {' or '.join(TRACE_EXPORTERS)} (or none)"
        )
    return tuple(name for name in names if name != "none")


def trace_protocol(environ=None) -> str:
    """The OTLP protocol asked for: Tillid sends http/protobuf only."""
    environ = os.environ if environ is None else environ
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "").strip()
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "").strip()
        or "http/protobuf"
    )
    if protocol != "http/protobuf":
        raise ConfigurationError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r} is not available; Tillid sends traces "
            "over http/protobuf (point OTEL_EXPORTER_OTLP_ENDPOINT at the collector's HTTP "
            "port, usually 4318)"
        )
    return protocol
