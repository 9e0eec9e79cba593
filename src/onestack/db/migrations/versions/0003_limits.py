"""identity: unified limits

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 10:48:04.840384
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("project_limit",
    sa.Column("id", sa.String(length=64), nullable=False),
    sa.Column("project_id", sa.String(length=64), nullable=False),
    sa.Column("domain_id", sa.String(length=64), nullable=False),
    sa.Column("service_id", sa.String(length=64), nullable=False),
    sa.Column("region_id", sa.String(length=255), nullable=False),
    sa.Column("resource_name", sa.String(length=255), nullable=False),
    sa.Column("resource_limit", sa.Integer(), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_project_limit")),
    sa.UniqueConstraint("project_id", "domain_id", "service_id", "region_id", "resource_name", name=op.f("uq_project_limit_project_id"))
    )
    with op.batch_alter_table("project_limit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_project_limit_domain_id"), ["domain_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_project_limit_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_project_limit_service_id"), ["service_id"], unique=False)

    op.create_table("registered_limit",
    sa.Column("id", sa.String(length=64), nullable=False),
    sa.Column("service_id", sa.String(length=64), nullable=False),
    sa.Column("region_id", sa.String(length=255), nullable=False),
    sa.Column("resource_name", sa.String(length=255), nullable=False),
    sa.Column("default_limit", sa.Integer(), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_registered_limit")),
    sa.UniqueConstraint("service_id", "region_id", "resource_name", name=op.f("uq_registered_limit_service_id"))
    )
    with op.batch_alter_table("registered_limit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_registered_limit_service_id"), ["service_id"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("registered_limit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registered_limit_service_id"))

    op.drop_table("registered_limit")
    with op.batch_alter_table("project_limit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_limit_service_id"))
        batch_op.drop_index(batch_op.f("ix_project_limit_project_id"))
        batch_op.drop_index(batch_op.f("ix_project_limit_domain_id"))

    op.drop_table("project_limit")
