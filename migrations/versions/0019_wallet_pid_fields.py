"""wallet PID fields: birth place and nationalities, credential signing keys, status lists

The PID rulebook's mandatory place_of_birth and nationalities join the citizen registry;
signing keys get a purpose (token or credential: never one key for both); Token Status
Lists and the index each credential holds in one.

Revision ID: 0019_wallet_pid_fields
Revises: 0018_fresh_bound_level
Create Date: 2026-12-03 19:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0019_wallet_pid_fields'
down_revision = '0018_fresh_bound_level'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('citizen', schema=None) as batch_op:
        batch_op.add_column(sa.Column('birth_country', sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column('birth_region', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('birth_locality', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('nationalities', sa.JSON(), nullable=False,
                                      server_default='[]'))
    with op.batch_alter_table('signing_key', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purpose', sa.String(length=16), nullable=False,
                                      server_default='token'))
    op.create_table('wallet_status_list',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('allocated', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wallet_status_list'))
    )
    op.create_table('wallet_credential_status',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('list_id', sa.String(length=32), nullable=False),
    sa.Column('idx', sa.Integer(), nullable=False),
    sa.Column('citizen_id', sa.String(length=36), nullable=True),
    sa.Column('holder_key_thumbprint', sa.String(length=64), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizen.id'], name=op.f('fk_wallet_credential_status_citizen_id_citizen'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['list_id'], ['wallet_status_list.id'], name=op.f('fk_wallet_credential_status_list_id_wallet_status_list')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wallet_credential_status')),
    sa.UniqueConstraint('list_id', 'idx', name=op.f('uq_wallet_credential_status_list_id'))
    )
    with op.batch_alter_table('wallet_credential_status', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wallet_credential_status_citizen_id'), ['citizen_id'], unique=False)


def downgrade():
    with op.batch_alter_table('wallet_credential_status', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wallet_credential_status_citizen_id'))
    op.drop_table('wallet_credential_status')
    op.drop_table('wallet_status_list')
    with op.batch_alter_table('signing_key', schema=None) as batch_op:
        batch_op.drop_column('purpose')
    with op.batch_alter_table('citizen', schema=None) as batch_op:
        batch_op.drop_column('nationalities')
        batch_op.drop_column('birth_locality')
        batch_op.drop_column('birth_region')
        batch_op.drop_column('birth_country')
