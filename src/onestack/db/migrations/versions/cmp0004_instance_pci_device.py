"""compute: host PCI devices (GPUs) passed through to instances (cmp_instance_pci_device)

Revision ID: cmp0004
Revises: cmp0003
Create Date: 2026-12-04 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "cmp0004"
down_revision = "cmp0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cmp_instance_pci_device",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("address", sa.String(length=16), nullable=False),
        sa.Column("instance_uuid", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_uuid"],
            ["cmp_instance.uuid"],
            name=op.f("fk_cmp_instance_pci_device_instance_uuid"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("host", "address", name=op.f("pk_cmp_instance_pci_device")),
    )
    with op.batch_alter_table("cmp_instance_pci_device", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cmp_instance_pci_device_instance_uuid"),
                              ["instance_uuid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cmp_instance_pci_device", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cmp_instance_pci_device_instance_uuid"))
    op.drop_table("cmp_instance_pci_device")
