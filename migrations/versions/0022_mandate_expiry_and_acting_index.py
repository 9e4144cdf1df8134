"""mandates that expire are ledgered once; the releases made while an agent acted are found
by a small index of their own

A mandate past its end date (a power of attorney's, a custody's at the child's 18th
birthday) is an entry in both people's logs when Tillid notices it (consent/mandate_events.py
`record_expiries`): `expiry_recorded_at` says it has been, so it is recorded once; a partial
index holds the mandates still to be looked at.

The twelve-month summary counts the releases made while an agent acted for the citizen
apart from the citizen's own, and leaves out those the citizen made acting for someone else
(their information, not the citizen's). Those entries are few: a partial index holds only
them (`representation` is NULL in every other entry), so the summary finds them without
rebuilding the log's covering index (migration 0017) at national size. On a live ledger
build it per partition CONCURRENTLY first, as docs/ledger.md says for 0017; the UPDATE
touches only the entries written since 0021.

Revision ID: 0022_mandate_expiry
Revises: 0021_mandates
Create Date: 2026-12-04 02:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0022_mandate_expiry'
down_revision = '0021_mandates'
branch_labels = None
depends_on = None

INCLUDED = "client_id, client_name, client_kind, channel, erased_at, attributes, representation"


def upgrade():
    # Entries written since 0021 without an agent held JSON null, not SQL NULL: made NULL, so
    # that the partial index holds only the entries made while an agent acted. The entry's
    # commitment is unchanged (it leaves `representation` out when there is none).
    op.execute("UPDATE ledger_entry SET representation = NULL "
               "WHERE representation IS NOT NULL AND CAST(representation AS TEXT) = 'null'")
    op.add_column('mandate', sa.Column('expiry_recorded_at', sa.DateTime(timezone=True), nullable=True))
    unrecorded = sa.text('ended_at IS NULL AND expiry_recorded_at IS NULL')
    op.create_index('ix_mandate_expiry_unrecorded', 'mandate', ['valid_until'], unique=False,
                    postgresql_where=unrecorded, sqlite_where=unrecorded)
    if op.get_bind().dialect.name != "postgresql":
        op.create_index('ix_ledger_entry_citizen_acting', 'ledger_entry', ['citizen_id', 'released_at'],
                        unique=False, sqlite_where=sa.text('representation IS NOT NULL'))
        return
    op.execute("CREATE INDEX ix_ledger_entry_citizen_acting ON ledger_entry "
               f"(citizen_id, released_at) INCLUDE ({INCLUDED}) WHERE representation IS NOT NULL")


def downgrade():
    op.drop_index('ix_ledger_entry_citizen_acting', table_name='ledger_entry')
    op.drop_index('ix_mandate_expiry_unrecorded', table_name='mandate')
    with op.batch_alter_table('mandate', schema=None) as batch_op:
        batch_op.drop_column('expiry_recorded_at')
