"""The app factory: builds the Flask app, its extensions, every blueprint and CLI group."""

from __future__ import annotations

import os

from flask import Flask
from flask_babel import get_locale
from werkzeug.middleware.proxy_fix import ProxyFix

from idp import errors, i18n, templating
from idp.core import config as config_module
from idp.core import crypto, database, logs, web
from idp.core.extensions import babel, close_session, csrf, db, limiter, migrate, store
from idp.core.store import TIMEOUTS as STORE_TIMEOUTS

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")


class EmbeddedStoreWorkers(config_module.ConfigurationError):
    """More than one worker process would each get its own in-process store."""


def refuse_workers_on_embedded_store(workers: int, redis_url: str | None) -> None:
    if workers > 1 and not redis_url:
        raise EmbeddedStoreWorkers(
            f"refusing to start {workers} workers on the embedded in-process store: "
            "each worker would have its own sessions, codes and lockout counters. "
            "Set REDIS_URL, or run one worker."
        )


def instance_path() -> str:
    """The app's instance folder (development's SQLite file and secrets): TILLID_INSTANCE_PATH,
    else Flask's default for the package."""
    configured = os.environ.get("TILLID_INSTANCE_PATH")
    return os.path.abspath(configured) if configured else Flask("idp").instance_path


def create_app(config: dict | None = None) -> Flask:
    app = Flask("idp", instance_path=instance_path(), instance_relative_config=True)
    app.config.update(config_module.load(app.instance_path, config))
    crypto.check_data_key(app.config["TILLID_DATA_KEY"])
    # serve.py and most platforms say how many workers they start in WEB_CONCURRENCY.
    refuse_workers_on_embedded_store(
        int(os.environ.get("WEB_CONCURRENCY", "1") or 1), app.config["REDIS_URL"]
    )
    https = config_module.issuer_is_https(app.config)
    app.config.update(
        SESSION_COOKIE_NAME="__Host-tillid" if https else "tillid",
        SESSION_COOKIE_SECURE=https,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # The limiter reads the same URL: redis+cluster:// is the limits library's own
        # form for its Redis Cluster storage.
        RATELIMIT_STORAGE_URI=app.config["REDIS_URL"] or "memory://",
        # The limiter's own Redis client gets the store's timeouts: without them (redis-py
        # before 8) a hung Redis would hold every rate-limited request for good.
        RATELIMIT_STORAGE_OPTIONS=dict(STORE_TIMEOUTS) if app.config["REDIS_URL"] else {},
        RATELIMIT_KEY_PREFIX=app.config["STORE_KEY_PREFIX"] + "ratelimit",
    )
    logs.configure(app.config["LOG_LEVEL"])
    if app.config["TRUSTED_PROXY_COUNT"]:
        # Behind a load balancer the client's address (rate limits, session list) and the
        # scheme come from X-Forwarded-For/-Proto, trusting exactly that many hops.
        hops = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    web.init_app(app)  # first: its request id must exist before CSRF or limits can log
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = database.engine_options(app.config)
    db.init_app(app)
    database.init_app(app)
    app.teardown_appcontext(close_session)  # before Flask-SQLAlchemy's own (see there)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    store.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    app.jinja_env.globals["get_locale"] = get_locale
    templating.init_app(app)
    i18n.init_app(app)

    # Models must be imported before migrations or create_all look at the metadata.
    from clients import models as client_models  # noqa: F401
    from consent import ledger as ledger_models  # noqa: F401
    from consent import models as consent_models  # noqa: F401
    from consent.views import bp as ledger_bp
    from idp.account.access_log import bp as access_log_bp
    from idp.account.api import bp as me_api_bp
    from idp.account.mandates import bp as mandates_portal_bp
    from idp.account.views import bp as account_bp
    from idp.api.authority import bp as authority_api_bp
    from idp.api.mandates import bp as mandates_api_bp
    from idp.auth.views import bp as auth_bp
    from idp.authenticators import models as authenticator_models  # noqa: F401
    from idp.citizens import models  # noqa: F401
    from idp.keys import models as key_models  # noqa: F401
    from idp.keys.views import bp as keys_bp
    from idp.mandates import models as mandate_models  # noqa: F401
    from idp.oidc import (
        backchannel_logout,
        service_endpoints,  # noqa: F401 (its routes are on the oidc blueprint)
        session_tokens,
    )
    from idp.oidc import logout as oidc_logout
    from idp.oidc import refresh as refresh_models  # noqa: F401
    from idp.oidc import server as oidc_server
    from idp.oidc import subjects as subject_models  # noqa: F401
    from idp.oidc.authorize import bp as oidc_bp
    from idp.oidc.discovery import bp as discovery_bp
    from idp.openapi import bp as openapi_bp
    from idp.ops import bp as ops_bp
    from idp.phone.app import bp as phone_app_bp
    from idp.phone.login import bp as phone_login_bp
    from idp.security.password import bp as password_bp
    from idp.security.password_reset import bp as password_reset_bp
    from idp.security.views import bp as security_bp
    from idp.sessions import current
    from idp.sessions.keepalive import bp as keepalive_bp
    from idp.wallet import grant as wallet_grant
    from idp.wallet import models as wallet_models  # noqa: F401
    from idp.wallet.portal import bp as wallet_portal_bp
    from idp.wallet.views import bp as wallet_bp

    app.register_blueprint(i18n.bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(keepalive_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(access_log_bp)
    app.register_blueprint(me_api_bp)
    app.register_blueprint(security_bp)
    app.register_blueprint(password_bp)
    app.register_blueprint(password_reset_bp)
    app.register_blueprint(ops_bp)
    app.register_blueprint(keys_bp)
    app.register_blueprint(oidc_bp)
    app.register_blueprint(discovery_bp)
    app.register_blueprint(oidc_logout.bp)
    app.register_blueprint(ledger_bp)
    app.register_blueprint(authority_api_bp)
    app.register_blueprint(mandates_api_bp)
    app.register_blueprint(openapi_bp)
    app.register_blueprint(phone_app_bp)
    app.register_blueprint(phone_login_bp)
    app.register_blueprint(wallet_bp)
    app.register_blueprint(wallet_portal_bp)
    app.register_blueprint(mandates_portal_bp)
    oidc_server.init_app(app)
    wallet_grant.init_app()
    oidc_logout.init_app()
    session_tokens.init_app()
    backchannel_logout.init_app()
    app.jinja_env.globals["current_citizen"] = current.citizen

    errors.init_app(app)
    _add_commands(app)
    return app


def _add_commands(app: Flask) -> None:
    """Every `flask` command group, each from its own package."""
    from clients.cli import clients_cli
    from consent.cli import ledger_cli
    from demo.cli import demo_cli
    from idp.audit.cli import audit_cli, audit_every_command
    from idp.citizens.cli import citizens_cli
    from idp.keys.cli import keys_cli
    from idp.mandates.cli import mandates_cli
    from idp.oidc.logout_cli import logout_cli
    from idp.wallet.cli import wallet_cli

    app.cli.add_command(clients_cli)
    app.cli.add_command(ledger_cli)
    app.cli.add_command(citizens_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(wallet_cli)
    app.cli.add_command(mandates_cli)
    app.cli.add_command(logout_cli)
    # Last, so it sees every command (Flask-Migrate's `db` too): each is written to the
    # audit log as it ends.
    audit_every_command(app.cli)
