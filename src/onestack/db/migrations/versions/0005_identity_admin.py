"""identity: access rules, domain config, policy blobs, oauth1 consumers

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 17:08:17.829094
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table("oauth_consumer",
    sa.Column("id", sa.String(length=64), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("encrypted_secret", sa.Text(), nullable=False),
    sa.Column("extra", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_consumer"))
    )
    op.create_table("policy",
    sa.Column("id", sa.String(length=64), nullable=False),
    sa.Column("type", sa.String(length=255), nullable=False),
    sa.Column("blob", sa.Text(), nullable=False),
    sa.Column("extra", sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_policy"))
    )
    op.create_table("domain_config",
    sa.Column("domain_id", sa.String(length=64), nullable=False),
    sa.Column("group", sa.String(length=64), nullable=False),
    sa.Column("option", sa.String(length=64), nullable=False),
    sa.Column("value", sa.JSON(), nullable=True),
    sa.Column("sensitive", sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(["domain_id"], ["domain.id"], name=op.f("fk_domain_config_domain_id"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("domain_id", "group", "option", name=op.f("pk_domain_config"))
    )
    op.create_table("access_rule",
    sa.Column("id", sa.String(length=64), nullable=False),
    sa.Column("user_id", sa.String(length=64), nullable=False),
    sa.Column("service", sa.String(length=64), nullable=False),
    sa.Column("method", sa.String(length=16), nullable=False),
    sa.Column("path", sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_access_rule_user_id"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_access_rule")),
    sa.UniqueConstraint("user_id", "service", "method", "path", name=op.f("uq_access_rule_user_id"))
    )
    with op.batch_alter_table("access_rule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_rule_user_id"), ["user_id"], unique=False)




def downgrade() -> None:

    with op.batch_alter_table("access_rule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_rule_user_id"))

    op.drop_table("access_rule")
    op.drop_table("domain_config")
    op.drop_table("policy")
    op.drop_table("oauth_consumer")

