"""mandates: who may act for whom, and which services accept it

A mandate lets an agent act for a principal (a power of attorney the principal grants, a
parent's custody, a guardianship an authority appoints) at some services with some of the
principal's attributes, for a time; a client says whether it accepts representation and
which of its claims it receives while an agent acts; a refresh token says under which
mandate it was issued, so that ending the mandate stops it; a ledger entry says whether an
agent acted (in both the principal's and the agent's log).

Revision ID: 0021_mandates
Revises: 0020_wallet_issuance
Create Date: 2026-12-03 23:45:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0021_mandates'
down_revision = '0020_wallet_issuance'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('mandate',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('principal_id', sa.String(length=36), nullable=False),
    sa.Column('agent_id', sa.String(length=36), nullable=False),
    sa.Column('origin', sa.Enum('granted', 'custody', 'guardianship', name='mandate_origin', native_enum=False, length=32), nullable=False),
    sa.Column('service_kind', sa.String(length=32), nullable=True),
    sa.Column('client_ids', sa.JSON(), nullable=False),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_by', sa.Enum('principal', 'agent', 'authority', 'operator', 'register', name='mandate_ended_by', native_enum=False, length=32), nullable=True),
    sa.Column('appointed_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['citizen.id'], name=op.f('fk_mandate_agent_id_citizen'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['principal_id'], ['citizen.id'], name=op.f('fk_mandate_principal_id_citizen'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['appointed_by'], ['client.client_id'], name=op.f('fk_mandate_appointed_by_client'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mandate'))
    )
    with op.batch_alter_table('mandate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mandate_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mandate_principal_id'), ['principal_id'], unique=False)
    with op.batch_alter_table('client', schema=None) as batch_op:
        batch_op.add_column(sa.Column('accepts_representation', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('representation_claims', sa.JSON(), nullable=False,
                                      server_default='[]'))
    with op.batch_alter_table('refresh_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mandate_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('agent_id', sa.String(length=36), nullable=True))
    # Partitioned on PostgreSQL: a column added to the parent is added to every partition.
    op.add_column('ledger_entry', sa.Column('representation', sa.JSON(), nullable=True))


def downgrade():
    op.drop_column('ledger_entry', 'representation')
    with op.batch_alter_table('refresh_token', schema=None) as batch_op:
        batch_op.drop_column('agent_id')
        batch_op.drop_column('mandate_id')
    with op.batch_alter_table('client', schema=None) as batch_op:
        batch_op.drop_column('representation_claims')
        batch_op.drop_column('accepts_representation')
    with op.batch_alter_table('mandate', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mandate_principal_id'))
        batch_op.drop_index(batch_op.f('ix_mandate_agent_id'))
    op.drop_table('mandate')
