"""Alembic environment for Flask-Migrate; one history for SQLite and PostgreSQL."""

import logging

from alembic import context
from flask import current_app

from consent.partitions import is_partition
from idp.core.database import unbounded_statements
from idp.core.dbtypes import UTCDateTime

config = context.config
# Logging is the app's (JSON, see idp/core/logs.py); alembic.ini's logging sections are not used.
logger = logging.getLogger("alembic.env")

target_db = current_app.extensions["migrate"].db
config.set_main_option(
    "sqlalchemy.url", target_db.engine.url.render_as_string(hide_password=False).replace("%", "%%")
)


def render_item(type_, obj, autogen_context):
    # Our TypeDecorator is plain TIMESTAMP WITH TIME ZONE to the database.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def include_name(name, type_, parent_names):
    # The ledger's monthly partitions (and detached months) are not tables of the models.
    return not (type_ == "table" and is_partition(name))


def run_migrations_offline():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_db.metadata,
        literal_binds=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    def process_revision_directives(context, revision, directives):
        # No empty migration files when autogenerate finds nothing.
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")

    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    conf_args.setdefault("render_item", render_item)
    conf_args.setdefault("include_name", include_name)
    # A migration takes as long as the tables are large: no statement timeout (the lock
    # timeout stays, so DDL never queues requests behind it for long).
    with unbounded_statements(), target_db.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_db.metadata, **conf_args)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
