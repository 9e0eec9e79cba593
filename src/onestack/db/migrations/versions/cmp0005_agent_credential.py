"""compute: per-host credentials of the compute agents (cmp_agent_credential)

Revision ID: cmp0005
Revises: cmp0004
Create Date: 2026-12-04 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "cmp0005"
down_revision = "cmp0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cmp_agent_credential",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("host", name=op.f("pk_cmp_agent_credential")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_cmp_agent_credential_secret_hash")),
    )


def downgrade() -> None:
    op.drop_table("cmp_agent_credential")
