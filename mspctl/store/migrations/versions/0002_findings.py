"""findings, control states, asset records; run seq and fingerprints

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 15:01:32.476053
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "control_states",
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("control_id", sa.String(length=128), nullable=False),
        sa.Column("policy", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("expected", sa.JSON(), nullable=True),
        sa.Column("actual", sa.JSON(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("since_run_seq", sa.Integer(), nullable=False),
        sa.Column("last_run_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("client", "host", "control_id"),
    )
    with op.batch_alter_table("control_states", schema=None) as batch_op:
        batch_op.create_index("ix_control_states_status", ["client", "status"], unique=False)

    op.create_table(
        "asset_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("run_seq", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("digest", sa.String(length=80), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("asset_records", schema=None) as batch_op:
        batch_op.create_index("ix_asset_records_host", ["client", "host", "run_seq"], unique=False)

    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("control_id", sa.String(length=128), nullable=False),
        sa.Column("run_seq", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("policy", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("previous_status", sa.String(length=8), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("expected", sa.JSON(), nullable=True),
        sa.Column("actual", sa.JSON(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.create_index("ix_findings_run", ["run_seq"], unique=False)
        batch_op.create_index(
            "ix_findings_state", ["client", "host", "control_id", "run_seq"], unique=False
        )

    # existing runs keep everything: they get a sequence number in start order
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("fingerprints", sa.JSON(), nullable=False, server_default="{}")
        )
        batch_op.add_column(
            sa.Column("full", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    runs = sa.table(
        "runs",
        sa.column("id", sa.String),
        sa.column("seq", sa.Integer),
        sa.column("started_at", sa.DateTime),
    )
    connection = op.get_bind()
    ordered = connection.execute(sa.select(runs.c.id).order_by(runs.c.started_at, runs.c.id))
    for number, (run_id,) in enumerate(ordered.fetchall(), start=1):
        connection.execute(runs.update().where(runs.c.id == run_id).values(seq=number))
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch_op.create_index("ux_runs_seq", ["seq"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ux_runs_seq")
        batch_op.drop_column("full")
        batch_op.drop_column("fingerprints")
        batch_op.drop_column("seq")

    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_index("ix_findings_state")
        batch_op.drop_index("ix_findings_run")

    op.drop_table("findings")
    with op.batch_alter_table("asset_records", schema=None) as batch_op:
        batch_op.drop_index("ix_asset_records_host")

    op.drop_table("asset_records")
    with op.batch_alter_table("control_states", schema=None) as batch_op:
        batch_op.drop_index("ix_control_states_status")

    op.drop_table("control_states")
