"""ledger at national scale: partitioned by month on PostgreSQL, 64-bit ids, references apart

On PostgreSQL ledger_entry becomes a table partitioned by RANGE (released_at), one partition
per month (ledger_entry_yYYYYmMM) plus a default one, so old months can be detached and
archived (consent/partitions.py). Its primary key is then (id, released_at), and no unique
constraint can span months: report references move to ledger_reference, and a leaf index
stays unique by its Merkle node. Ids, leaf indices and tree sizes become 64-bit.
On SQLite the table stays whole; the same constraints and indexes change.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-25 11:00:00

"""
import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

MONTHS_AHEAD = 3
_COLUMNS = ("id, citizen_id, client_id, client_name, client_kind, channel, attributes, purpose, "
            "legal_basis, request_id, reference, released_at, salt, commitment, leaf_index, "
            "erased_at")


def _month_starts(first: dt.date, last: dt.date):
    month = first.replace(day=1)
    while month <= last:
        yield month
        month = (month + dt.timedelta(days=32)).replace(day=1)


def _create_reference_table() -> None:
    op.create_table('ledger_reference',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=False),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('client_id', 'reference', name=op.f('pk_ledger_reference'))
    )
    op.execute("INSERT INTO ledger_reference (client_id, reference, entry_id) "
               "SELECT client_id, reference, id FROM ledger_entry WHERE reference IS NOT NULL")


def upgrade():
    _create_reference_table()
    op.create_table('ledger_archive',
    sa.Column('partition', sa.String(length=63), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('entries', sa.BigInteger(), nullable=False),
    sa.Column('first_leaf', sa.BigInteger(), nullable=True),
    sa.Column('last_leaf', sa.BigInteger(), nullable=True),
    sa.Column('detached_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('partition', name=op.f('pk_ledger_archive'))
    )
    if op.get_bind().dialect.name != "postgresql":
        with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
            batch_op.drop_constraint('uq_ledger_entry_client_id', type_='unique')
            batch_op.drop_constraint('uq_ledger_entry_leaf_index', type_='unique')
            batch_op.drop_index('ix_ledger_entry_citizen_id')
            batch_op.create_index('ix_ledger_entry_citizen_newest', ['citizen_id', 'released_at', 'id'], unique=False)
            batch_op.create_index('ix_ledger_entry_leaf_index', ['leaf_index'], unique=False)
        return

    op.execute('ALTER TABLE merkle_node ALTER COLUMN "index" TYPE BIGINT')
    op.execute("ALTER TABLE ledger_checkpoint ALTER COLUMN tree_size TYPE BIGINT")
    # The whole table moves aside (its index and sequence names with it) and is copied in.
    op.execute("ALTER TABLE ledger_entry RENAME TO ledger_entry_whole")
    for name in ("pk_ledger_entry", "uq_ledger_entry_leaf_index", "uq_ledger_entry_client_id",
                 "ix_ledger_entry_citizen_id", "ix_ledger_entry_released_at"):
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_whole")
    op.execute("ALTER SEQUENCE ledger_entry_id_seq RENAME TO ledger_entry_whole_id_seq")
    op.execute("""
        CREATE TABLE ledger_entry (
            id BIGSERIAL NOT NULL,
            citizen_id VARCHAR(36) NOT NULL,
            client_id VARCHAR(64) NOT NULL,
            client_name VARCHAR(200) NOT NULL,
            client_kind VARCHAR(32) NOT NULL,
            channel VARCHAR(32) NOT NULL,
            attributes JSON,
            purpose TEXT,
            legal_basis VARCHAR(32),
            request_id VARCHAR(64),
            reference VARCHAR(100),
            released_at TIMESTAMP WITH TIME ZONE NOT NULL,
            salt BYTEA,
            commitment BYTEA NOT NULL,
            leaf_index BIGINT,
            erased_at TIMESTAMP WITH TIME ZONE,
            CONSTRAINT pk_ledger_entry PRIMARY KEY (id, released_at),
            CONSTRAINT fk_ledger_entry_citizen_id_citizen FOREIGN KEY (citizen_id)
                REFERENCES citizen (id),
            CONSTRAINT fk_ledger_entry_client_id_client FOREIGN KEY (client_id)
                REFERENCES client (client_id)
        ) PARTITION BY RANGE (released_at)
    """)
    op.execute("CREATE INDEX ix_ledger_entry_citizen_newest "
               "ON ledger_entry (citizen_id, released_at, id)")
    op.execute("CREATE INDEX ix_ledger_entry_leaf_index ON ledger_entry (leaf_index)")
    op.execute("CREATE INDEX ix_ledger_entry_released_at ON ledger_entry (released_at)")
    bind = op.get_bind()
    oldest = bind.execute(sa.text("SELECT min(released_at) FROM ledger_entry_whole")).scalar()
    today = dt.datetime.now(dt.UTC).date()
    first = oldest.date() if oldest else today
    last = (today.replace(day=1) + dt.timedelta(days=31 * MONTHS_AHEAD))
    for start in _month_starts(first, last):
        end = (start + dt.timedelta(days=32)).replace(day=1)
        op.execute(
            f"CREATE TABLE ledger_entry_y{start.year:04d}m{start.month:02d} PARTITION OF "
            f"ledger_entry FOR VALUES FROM ('{start.isoformat()} 00:00+00') "
            f"TO ('{end.isoformat()} 00:00+00')"
        )
    op.execute("CREATE TABLE ledger_entry_default PARTITION OF ledger_entry DEFAULT")
    op.execute(f"INSERT INTO ledger_entry ({_COLUMNS}) SELECT {_COLUMNS} FROM ledger_entry_whole")
    op.execute("SELECT setval('ledger_entry_id_seq', "
               "(SELECT COALESCE(max(id), 0) + 1 FROM ledger_entry), false)")
    op.execute("DROP TABLE ledger_entry_whole")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
            batch_op.drop_index('ix_ledger_entry_leaf_index')
            batch_op.drop_index('ix_ledger_entry_citizen_newest')
            batch_op.create_index('ix_ledger_entry_citizen_id', ['citizen_id'], unique=False)
            batch_op.create_unique_constraint('uq_ledger_entry_leaf_index', ['leaf_index'])
            batch_op.create_unique_constraint('uq_ledger_entry_client_id', ['client_id', 'reference'])
        op.drop_table('ledger_reference')
        op.drop_table('ledger_archive')
        return

    op.execute("ALTER TABLE ledger_entry RENAME TO ledger_entry_partitioned")
    for name in ("pk_ledger_entry", "ix_ledger_entry_citizen_newest",
                 "ix_ledger_entry_leaf_index", "ix_ledger_entry_released_at"):
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_partitioned")
    op.execute("ALTER SEQUENCE ledger_entry_id_seq RENAME TO ledger_entry_partitioned_id_seq")
    op.execute("""
        CREATE TABLE ledger_entry (
            id SERIAL NOT NULL,
            citizen_id VARCHAR(36) NOT NULL,
            client_id VARCHAR(64) NOT NULL,
            client_name VARCHAR(200) NOT NULL,
            client_kind VARCHAR(32) NOT NULL,
            channel VARCHAR(32) NOT NULL,
            attributes JSON,
            purpose TEXT,
            legal_basis VARCHAR(32),
            request_id VARCHAR(64),
            released_at TIMESTAMP WITH TIME ZONE NOT NULL,
            salt BYTEA,
            commitment BYTEA NOT NULL,
            leaf_index INTEGER,
            erased_at TIMESTAMP WITH TIME ZONE,
            reference VARCHAR(100),
            CONSTRAINT pk_ledger_entry PRIMARY KEY (id),
            CONSTRAINT fk_ledger_entry_citizen_id_citizen FOREIGN KEY (citizen_id)
                REFERENCES citizen (id),
            CONSTRAINT fk_ledger_entry_client_id_client FOREIGN KEY (client_id)
                REFERENCES client (client_id),
            CONSTRAINT uq_ledger_entry_leaf_index UNIQUE (leaf_index),
            CONSTRAINT uq_ledger_entry_client_id UNIQUE (client_id, reference)
        )
    """)
    op.execute("CREATE INDEX ix_ledger_entry_citizen_id ON ledger_entry (citizen_id)")
    op.execute("CREATE INDEX ix_ledger_entry_released_at ON ledger_entry (released_at)")
    op.execute(f"INSERT INTO ledger_entry ({_COLUMNS}) "
               f"SELECT {_COLUMNS} FROM ledger_entry_partitioned")
    op.execute("SELECT setval('ledger_entry_id_seq', "
               "(SELECT COALESCE(max(id), 0) + 1 FROM ledger_entry), false)")
    op.execute("DROP TABLE ledger_entry_partitioned")  # its partitions go with it
    op.execute("ALTER TABLE ledger_checkpoint ALTER COLUMN tree_size TYPE INTEGER")
    op.execute('ALTER TABLE merkle_node ALTER COLUMN "index" TYPE INTEGER')
    op.drop_table('ledger_reference')
    op.drop_table('ledger_archive')
