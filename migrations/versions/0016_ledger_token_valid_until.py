"""ledger: until when the access token of a userinfo release was valid

A release at userinfo is ledgered once per access token (the same client, claims, purpose
and legal basis again under that token add no entry: consent/release.py); its entry records
until when the token was valid, and commits to it (LedgerEntry.content, from this revision
on). Nullable: every older entry, and every release not made under an access token, has
none, and their commitments stay as signed. On PostgreSQL the ledger is partitioned by
month (0013): a column added to the partitioned table is added to every partition.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 09:50:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_valid_until', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.drop_column('token_valid_until')
