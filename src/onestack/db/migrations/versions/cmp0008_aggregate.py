"""compute: host aggregates, their hosts and metadata (Nova's ``os-aggregates``)

Revision ID: cmp0008
Revises: cmp0007
Create Date: 2026-12-07 10:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "cmp0008"
down_revision = "cmp0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cmp_aggregate",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cmp_aggregate")),
        sa.UniqueConstraint("uuid", name=op.f("uq_cmp_aggregate_uuid")),
        sa.UniqueConstraint("name", name=op.f("uq_cmp_aggregate_name")),
    )
    op.create_table(
        "cmp_aggregate_host",
        sa.Column("aggregate_id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["aggregate_id"], ["cmp_aggregate.id"], ondelete="CASCADE",
                                name=op.f("fk_cmp_aggregate_host_aggregate_id")),
        sa.PrimaryKeyConstraint("aggregate_id", "host", name=op.f("pk_cmp_aggregate_host")),
    )
    with op.batch_alter_table("cmp_aggregate_host", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cmp_aggregate_host_host"), ["host"], unique=False)
    op.create_table(
        "cmp_aggregate_metadata",
        sa.Column("aggregate_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["aggregate_id"], ["cmp_aggregate.id"], ondelete="CASCADE",
                                name=op.f("fk_cmp_aggregate_metadata_aggregate_id")),
        sa.PrimaryKeyConstraint("aggregate_id", "key", name=op.f("pk_cmp_aggregate_metadata")),
    )


def downgrade() -> None:
    op.drop_table("cmp_aggregate_metadata")
    op.drop_table("cmp_aggregate_host")
    op.drop_table("cmp_aggregate")
