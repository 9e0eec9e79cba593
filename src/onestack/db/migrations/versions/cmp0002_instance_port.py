"""compute: the ports of each instance (cmp_instance_port)

Revision ID: cmp0002
Revises: cmp0001
Create Date: 2026-11-21 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "cmp0002"
down_revision = "cmp0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cmp_instance_port",
        sa.Column("instance_uuid", sa.String(length=36), nullable=False),
        sa.Column("port_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("preserve", sa.Boolean(), nullable=False),
        sa.Column("tag", sa.String(length=60), nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_uuid"],
            ["cmp_instance.uuid"],
            name=op.f("fk_cmp_instance_port_instance_uuid"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_uuid", "port_id", name=op.f("pk_cmp_instance_port")),
    )
    with op.batch_alter_table("cmp_instance_port", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cmp_instance_port_port_id"), ["port_id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cmp_instance_port", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cmp_instance_port_port_id"))
    op.drop_table("cmp_instance_port")
