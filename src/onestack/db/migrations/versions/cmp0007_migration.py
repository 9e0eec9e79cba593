"""compute: migration records (cmp_migration), as Nova's ``os-migrations`` lists them

Revision ID: cmp0007
Revises: cmp0006
Create Date: 2026-12-05 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "cmp0007"
down_revision = "cmp0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cmp_migration",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("instance_uuid", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("migration_type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("source_compute", sa.String(length=255), nullable=True),
        sa.Column("source_node", sa.String(length=255), nullable=True),
        sa.Column("dest_compute", sa.String(length=255), nullable=True),
        sa.Column("dest_node", sa.String(length=255), nullable=True),
        sa.Column("dest_host", sa.String(length=255), nullable=True),
        sa.Column("old_flavor_id", sa.String(length=255), nullable=True),
        sa.Column("new_flavor_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cmp_migration")),
        sa.UniqueConstraint("uuid", name=op.f("uq_cmp_migration_uuid")),
    )
    with op.batch_alter_table("cmp_migration", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cmp_migration_instance_uuid"), ["instance_uuid"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_cmp_migration_status"), ["status"], unique=False)


def downgrade() -> None:
    op.drop_table("cmp_migration")
