"""The ground floor every package may use: database, migrations, store, limiter, CSRF, i18n."""

import flask_limiter
from flask import Flask, current_app
from flask_babel import Babel
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import DeclarativeBase

from idp.core.config import ConfigurationError
from idp.core.store import Store

# Named constraints keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Limiter(flask_limiter.Limiter):
    """Flask-Limiter for the limits its decorators put on views (the login forms), without
    its per-request hooks. Those look for default and application limits on every request
    (Tillid declares none: the machine endpoints spend their budgets in
    idp/core/rate_limits.py) and cost about 6 % of a token request; a decorated view checks
    its own limits when it is called, hooks or not."""

    def init_app(self, app: Flask) -> None:
        # Flask-Limiter adds its hooks to an app only if it is not yet among the app's
        # limiters: so it is, first.
        app.extensions.setdefault("limiter", set()).add(self)
        super().init_app(app)
        manager = self.limit_manager
        if manager._default_limits or manager._application_limits or self._meta_limits:
            raise ConfigurationError(
                "RATELIMIT_DEFAULT, RATELIMIT_APPLICATION and RATELIMIT_META are not used: "
                "limits are per view (the login forms) or budgets (idp/core/rate_limits.py)"
            )

    def limit(self, *args, **kwargs):
        # A deduction after the answer (deduct_when) needs the after_request hook dropped above.
        if kwargs.get("deduct_when") is not None:
            raise ValueError("deduct_when needs Flask-Limiter's request hooks, which are off")
        return super().limit(*args, **kwargs)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
store = Store()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def source_address_key() -> str:
    """The limiter's key: the source address, in this app's store namespace. (The limiter is
    one object shared by every app in a process and keeps the key prefix of the first.)"""
    return current_app.config["STORE_KEY_PREFIX"] + (get_remote_address() or "")


def roll_back_session() -> None:
    """Undo the session's transaction. When its connection died under it (the database went
    away mid-request) the rollback itself fails: then drop the connection instead; the pool
    makes a new one for the next request."""
    try:
        db.session.rollback()
    except (OperationalError, InterfaceError):
        db.session().invalidate()  # (the scoped session does not pass this one on)


def close_session(_error: BaseException | None = None) -> None:
    """End the request's session without raising. Registered after Flask-SQLAlchemy, so it
    runs first: that one's close rolls back too, and a rollback that raised in a teardown
    replaced the request's answer with gunicorn's bare 500. A request that used no session
    (the token endpoints, with the client from clients/cache.py) has none to end: asking
    the scoped session to close would make one first."""
    if not db.session.registry.has():
        return
    try:
        db.session.close()
    except (OperationalError, InterfaceError):
        db.session().invalidate()  # (the scoped session does not pass this one on)
