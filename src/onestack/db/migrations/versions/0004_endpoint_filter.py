"""identity: endpoint groups (OS-EP-FILTER)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 10:55:32.644110
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("endpoint_group",
    sa.Column("id", sa.String(length=64), nullable=False),
    sa.Column("name", sa.String(length=255), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("filters", sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoint_group"))
    )
    op.create_table("project_endpoint_group",
    sa.Column("endpoint_group_id", sa.String(length=64), nullable=False),
    sa.Column("project_id", sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(["endpoint_group_id"], ["endpoint_group.id"], name=op.f("fk_project_endpoint_group_endpoint_group_id"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("endpoint_group_id", "project_id", name=op.f("pk_project_endpoint_group"))
    )
    with op.batch_alter_table("project_endpoint_group", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_project_endpoint_group_project_id"), ["project_id"], unique=False)

    op.create_table("project_endpoint",
    sa.Column("endpoint_id", sa.String(length=64), nullable=False),
    sa.Column("project_id", sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(["endpoint_id"], ["endpoint.id"], name=op.f("fk_project_endpoint_endpoint_id"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("endpoint_id", "project_id", name=op.f("pk_project_endpoint"))
    )
    with op.batch_alter_table("project_endpoint", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_project_endpoint_project_id"), ["project_id"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("project_endpoint", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_endpoint_project_id"))

    op.drop_table("project_endpoint")
    with op.batch_alter_table("project_endpoint_group", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_endpoint_group_project_id"))

    op.drop_table("project_endpoint_group")
    op.drop_table("endpoint_group")
