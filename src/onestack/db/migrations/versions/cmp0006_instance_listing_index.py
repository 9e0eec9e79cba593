"""compute: the server listing's index (project, deleted, created_at, uuid)

A page of a project's servers in the default order (created_at, uuid, newest first) reads
the index in order and stops at the page's end; (project_id, deleted) alone sorted every
server of the project first. The new index starts with the old one's columns: it replaces it.

Revision ID: cmp0006
Revises: cmp0005
Create Date: 2026-12-05 06:00:00
"""

from alembic import op

revision = "cmp0006"
down_revision = "cmp0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cmp_instance_project_deleted_created", "cmp_instance",
                    ["project_id", "deleted", "created_at", "uuid"], unique=False)
    op.drop_index("ix_cmp_instance_project_deleted", table_name="cmp_instance")


def downgrade() -> None:
    op.create_index("ix_cmp_instance_project_deleted", "cmp_instance",
                    ["project_id", "deleted"], unique=False)
    op.drop_index("ix_cmp_instance_project_deleted_created", table_name="cmp_instance")
