"""backchannel logout: where a service receives logout tokens, and whether it needs `sid`

OpenID Connect Back-Channel Logout 1.0 2.2: a client registers backchannel_logout_uri (where
Tillid POSTs a logout token when a citizen's SSO session at Tillid ends) and
backchannel_logout_session_required (the token then always carries `sid`).

Revision ID: 0023_backchannel_logout
Revises: 0022_mandate_expiry
Create Date: 2026-12-04 02:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0023_backchannel_logout'
down_revision = '0022_mandate_expiry'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('client', schema=None) as batch_op:
        batch_op.add_column(sa.Column('backchannel_logout_uri', sa.String(length=2000),
                                      nullable=True))
        batch_op.add_column(sa.Column('backchannel_logout_session_required', sa.Boolean(),
                                      nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('client', schema=None) as batch_op:
        batch_op.drop_column('backchannel_logout_session_required')
        batch_op.drop_column('backchannel_logout_uri')
