"""audit: one row per write request

Revision ID: aud0001
Revises:
Create Date: 2026-12-07 11:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = 'aud0001'
down_revision = None
branch_labels = ('audit',)
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_record',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('request_id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.String(length=64), nullable=True),
        sa.Column('user_name', sa.String(length=255), nullable=True),
        sa.Column('project_id', sa.String(length=64), nullable=True),
        sa.Column('domain_id', sa.String(length=64), nullable=True),
        sa.Column('service', sa.String(length=32), nullable=False),
        sa.Column('method', sa.String(length=8), nullable=False),
        sa.Column('route', sa.String(length=255), nullable=False),
        sa.Column('resource_id', sa.String(length=255), nullable=True),
        sa.Column('status', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_record')),
    )
    with op.batch_alter_table('audit_record', schema=None) as batch_op:
        batch_op.create_index('ix_audit_record_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_audit_record_user_id', ['user_id', 'created_at'],
                              unique=False)
        batch_op.create_index('ix_audit_record_project_id', ['project_id', 'created_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_record', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_record_project_id')
        batch_op.drop_index('ix_audit_record_user_id')
        batch_op.drop_index('ix_audit_record_created_at')
    op.drop_table('audit_record')
