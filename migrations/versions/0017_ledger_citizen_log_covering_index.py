"""the citizen's log read from its index alone: the (citizen, time, id) index carries what
the page, its filters, the summary and the list of services read

On PostgreSQL the index gains INCLUDE columns (client, its name and kind, channel, the
attributes and when they were erased), so counting a page's matches, the twelve-month
summary and the services in the log are index-only scans: at 10M entries a citizen's log is
thousands of entries spread over the whole table, each a heap page to visit otherwise. It
replaces ix_ledger_entry_citizen_newest (same key columns). On a live ledger of national
size build it per partition CONCURRENTLY first (docs/ledger.md); this migration builds it in
one statement, which locks writes to the ledger while it runs.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 10:05:00

"""
from alembic import op


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

INCLUDED = "client_id, client_name, client_kind, channel, erased_at, attributes"


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
            batch_op.drop_index('ix_ledger_entry_citizen_newest')
            batch_op.create_index('ix_ledger_entry_citizen_log', ['citizen_id', 'released_at', 'id'], unique=False)
        return
    op.execute("CREATE INDEX ix_ledger_entry_citizen_log ON ledger_entry "
               f"(citizen_id, released_at, id) INCLUDE ({INCLUDED})")
    op.execute("DROP INDEX ix_ledger_entry_citizen_newest")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
            batch_op.drop_index('ix_ledger_entry_citizen_log')
            batch_op.create_index('ix_ledger_entry_citizen_newest', ['citizen_id', 'released_at', 'id'], unique=False)
        return
    op.execute("CREATE INDEX ix_ledger_entry_citizen_newest "
               "ON ledger_entry (citizen_id, released_at, id)")
    op.execute("DROP INDEX ix_ledger_entry_citizen_log")
