"""claims asked for by name on refresh tokens; notices shown on consent grants

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 09:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    # Existing rows get an empty list; the application always writes the column itself.
    with op.batch_alter_table('consent_grant', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('noticed', sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    with op.batch_alter_table('refresh_token', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('userinfo_claims', sa.JSON(), nullable=False,
                      server_default=sa.text("'[]'"))
        )


def downgrade():
    with op.batch_alter_table('refresh_token', schema=None) as batch_op:
        batch_op.drop_column('userinfo_claims')
    with op.batch_alter_table('consent_grant', schema=None) as batch_op:
        batch_op.drop_column('noticed')
