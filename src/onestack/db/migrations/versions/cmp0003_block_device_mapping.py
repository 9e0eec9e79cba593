"""compute: the volumes of each instance (cmp_block_device_mapping)

Revision ID: cmp0003
Revises: cmp0002
Create Date: 2026-11-21 15:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "cmp0003"
down_revision = "cmp0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cmp_block_device_mapping",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("instance_uuid", sa.String(length=36), nullable=False),
        sa.Column("volume_id", sa.String(length=36), nullable=False),
        sa.Column("attachment_id", sa.String(length=36), nullable=True),
        sa.Column("device_name", sa.String(length=64), nullable=False),
        sa.Column("boot_index", sa.Integer(), nullable=True),
        sa.Column("delete_on_termination", sa.Boolean(), nullable=False),
        sa.Column("tag", sa.String(length=60), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_uuid"],
            ["cmp_instance.uuid"],
            name=op.f("fk_cmp_block_device_mapping_instance_uuid"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cmp_block_device_mapping")),
    )
    with op.batch_alter_table("cmp_block_device_mapping", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cmp_block_device_mapping_instance_uuid"),
                              ["instance_uuid"], unique=False)
        batch_op.create_index(batch_op.f("ix_cmp_block_device_mapping_volume_id"),
                              ["volume_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cmp_block_device_mapping", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cmp_block_device_mapping_volume_id"))
        batch_op.drop_index(batch_op.f("ix_cmp_block_device_mapping_instance_uuid"))
    op.drop_table("cmp_block_device_mapping")
