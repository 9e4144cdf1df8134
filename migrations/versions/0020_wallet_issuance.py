"""wallet issuance: which wallet each credential went to, in which format, with what

A credential's status entry says which registered wallet (client) received it, its format
(dc+sd-jwt or mso_mdoc) and the attributes it carries: what the citizen's list of
credentials shows and what a revocation's ledger entry names.

Revision ID: 0020_wallet_issuance
Revises: 0019_wallet_pid_fields
Create Date: 2026-12-03 23:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0020_wallet_issuance'
down_revision = '0019_wallet_pid_fields'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('wallet_credential_status', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('credential_format', sa.String(length=16), nullable=False,
                                      server_default='dc+sd-jwt'))
        batch_op.add_column(sa.Column('attributes', sa.JSON(), nullable=False,
                                      server_default='[]'))
        batch_op.create_foreign_key(
            batch_op.f('fk_wallet_credential_status_client_id_client'), 'client',
            ['client_id'], ['client_id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('wallet_credential_status', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_wallet_credential_status_client_id_client'),
                                 type_='foreignkey')
        batch_op.drop_column('attributes')
        batch_op.drop_column('credential_format')
        batch_op.drop_column('client_id')
