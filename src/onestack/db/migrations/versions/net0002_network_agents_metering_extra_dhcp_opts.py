"""network: agents, metering labels and rules, extra DHCP options of ports

Revision ID: net0002
Revises: net0001
Create Date: 2026-12-07 17:08:46.564443
"""

import sqlalchemy as sa
from alembic import op

revision = 'net0002'
down_revision = 'net0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('net_agent',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('agent_type', sa.String(length=255), nullable=False),
    sa.Column('binary', sa.String(length=255), nullable=False),
    sa.Column('topic', sa.String(length=255), nullable=False),
    sa.Column('availability_zone', sa.String(length=255), nullable=True),
    sa.Column('admin_state_up', sa.Boolean(), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_net_agent')),
    sa.UniqueConstraint('host', 'agent_type', name=op.f('uq_net_agent_host'))
    )
    with op.batch_alter_table('net_agent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_net_agent_admin_state_up'), ['admin_state_up'], unique=False)
        batch_op.create_index(batch_op.f('ix_net_agent_agent_type'), ['agent_type'], unique=False)
        batch_op.create_index(batch_op.f('ix_net_agent_availability_zone'), ['availability_zone'], unique=False)
        batch_op.create_index(batch_op.f('ix_net_agent_binary'), ['binary'], unique=False)
        batch_op.create_index(batch_op.f('ix_net_agent_host'), ['host'], unique=False)
        batch_op.create_index(batch_op.f('ix_net_agent_topic'), ['topic'], unique=False)

    op.create_table('net_metering_label',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=1024), nullable=False),
    sa.Column('shared', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_net_metering_label'))
    )
    with op.batch_alter_table('net_metering_label', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_net_metering_label_name'), ['name'], unique=False)
        batch_op.create_index(batch_op.f('ix_net_metering_label_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_net_metering_label_shared'), ['shared'], unique=False)

    op.create_table('net_metering_label_rule',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('metering_label_id', sa.String(length=36), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('excluded', sa.Boolean(), nullable=False),
    sa.Column('remote_ip_prefix', sa.String(length=64), nullable=True),
    sa.Column('source_ip_prefix', sa.String(length=64), nullable=True),
    sa.Column('destination_ip_prefix', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['metering_label_id'], ['net_metering_label.id'], name=op.f('fk_net_metering_label_rule_metering_label_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_net_metering_label_rule'))
    )
    with op.batch_alter_table('net_metering_label_rule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_net_metering_label_rule_destination_ip_prefix'), ['destination_ip_prefix'], unique=False)
        batch_op.create_index(batch_op.f('ix_net_metering_label_rule_direction'), ['direction'], unique=False)
        batch_op.create_index(batch_op.f('ix_net_metering_label_rule_excluded'), ['excluded'], unique=False)
        batch_op.create_index(batch_op.f('ix_net_metering_label_rule_metering_label_id'), ['metering_label_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_net_metering_label_rule_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_net_metering_label_rule_remote_ip_prefix'), ['remote_ip_prefix'], unique=False)
        batch_op.create_index(batch_op.f('ix_net_metering_label_rule_source_ip_prefix'), ['source_ip_prefix'], unique=False)

    with op.batch_alter_table('net_port', schema=None) as batch_op:
        batch_op.add_column(sa.Column('extra_dhcp_opts', sa.JSON(), nullable=False,
                                      server_default='[]'))



def downgrade() -> None:
    with op.batch_alter_table('net_port', schema=None) as batch_op:
        batch_op.drop_column('extra_dhcp_opts')

    with op.batch_alter_table('net_metering_label_rule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_net_metering_label_rule_source_ip_prefix'))
        batch_op.drop_index(batch_op.f('ix_net_metering_label_rule_remote_ip_prefix'))
        batch_op.drop_index(batch_op.f('ix_net_metering_label_rule_project_id'))
        batch_op.drop_index(batch_op.f('ix_net_metering_label_rule_metering_label_id'))
        batch_op.drop_index(batch_op.f('ix_net_metering_label_rule_excluded'))
        batch_op.drop_index(batch_op.f('ix_net_metering_label_rule_direction'))
        batch_op.drop_index(batch_op.f('ix_net_metering_label_rule_destination_ip_prefix'))

    op.drop_table('net_metering_label_rule')
    with op.batch_alter_table('net_metering_label', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_net_metering_label_shared'))
        batch_op.drop_index(batch_op.f('ix_net_metering_label_project_id'))
        batch_op.drop_index(batch_op.f('ix_net_metering_label_name'))

    op.drop_table('net_metering_label')
    with op.batch_alter_table('net_agent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_net_agent_topic'))
        batch_op.drop_index(batch_op.f('ix_net_agent_host'))
        batch_op.drop_index(batch_op.f('ix_net_agent_binary'))
        batch_op.drop_index(batch_op.f('ix_net_agent_availability_zone'))
        batch_op.drop_index(batch_op.f('ix_net_agent_agent_type'))
        batch_op.drop_index(batch_op.f('ix_net_agent_admin_state_up'))

    op.drop_table('net_agent')
