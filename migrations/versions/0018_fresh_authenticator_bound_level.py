"""authenticator.bound_level: the level of the session that enrolled each authenticator

NIST SP 800-63B's binding rule: an authenticator added from a session logs in at most at
that session's level (a passkey added from a Substantial session never reaches High).
Authenticators enrolled before this was kept get the stricter Substantial: which session
added them cannot be known now.

Revision ID: 0018_fresh_bound_level
Revises: 0017
Create Date: 2026-12-03 13:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0018_fresh_bound_level'
down_revision = '0017'
branch_labels = None
depends_on = None

SUBSTANTIAL = "https://data.gov.dk/concept/core/nsis/loa/Substantial"


def upgrade():
    with op.batch_alter_table('authenticator', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bound_level', sa.String(length=64), nullable=False,
                                      server_default=SUBSTANTIAL))


def downgrade():
    with op.batch_alter_table('authenticator', schema=None) as batch_op:
        batch_op.drop_column('bound_level')
