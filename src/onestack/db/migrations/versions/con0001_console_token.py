"""console: one-time console tokens (stored hashed)

Revision ID: con0001
Revises:
Create Date: 2026-12-07 10:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = 'con0001'
down_revision = None
branch_labels = ('console',)
depends_on = None


def upgrade() -> None:
    op.create_table(
        'console_token',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('instance_uuid', sa.String(length=36), nullable=False),
        sa.Column('project_id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('protocol', sa.String(length=16), nullable=False),
        sa.Column('console_type', sa.String(length=16), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_console_token')),
    )
    with op.batch_alter_table('console_token', schema=None) as batch_op:
        batch_op.create_index('ix_console_token_expires_at', ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_console_token_instance_uuid'),
                              ['instance_uuid'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('console_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_token_instance_uuid'))
        batch_op.drop_index('ix_console_token_expires_at')
    op.drop_table('console_token')
