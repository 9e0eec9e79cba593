"""Nova's tables: flavors (with extra specs and access), key pairs, quotas, compute hosts,
instances (declared state plus what the agent observed), tags, server groups and instance
actions with their events.

An instance row is both the desired state (``task_state`` names the work asked for) and the
observed one (``vm_state``, ``power_state``), so a restarted agent knows what to finish.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from onestack.db.models.base import Base, utcnow

ID = String(36)
PROJECT = String(64)


class Flavor(Base):
    __tablename__ = "cmp_flavor"
    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # Nova's flavorid
    name: Mapped[str] = mapped_column(String(255), unique=True)
    memory_mb: Mapped[int] = mapped_column(Integer)
    vcpus: Mapped[int] = mapped_column(Integer)
    root_gb: Mapped[int] = mapped_column(Integer, default=0)
    ephemeral_gb: Mapped[int] = mapped_column(Integer, default=0)
    swap: Mapped[int] = mapped_column(Integer, default=0)
    rxtx_factor: Mapped[float] = mapped_column(Float, default=1.0)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class FlavorExtraSpec(Base):
    __tablename__ = "cmp_flavor_extra_spec"
    flavor_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("cmp_flavor.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class FlavorAccess(Base):
    __tablename__ = "cmp_flavor_access"
    flavor_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("cmp_flavor.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[str] = mapped_column(PROJECT, primary_key=True, index=True)


class KeyPair(Base):
    __tablename__ = "cmp_keypair"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(255))
    public_key: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(8), default="ssh")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ComputeQuota(Base):
    """A project's limit for one resource (absent: the default)."""

    __tablename__ = "cmp_quota"
    project_id: Mapped[str] = mapped_column(PROJECT, primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    hard_limit: Mapped[int] = mapped_column(Integer)


class ComputeNode(Base):
    """A compute host: its nova-compute service and its one hypervisor node."""

    __tablename__ = "cmp_node"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(ID, unique=True)  # also its resource provider's uuid
    service_uuid: Mapped[str] = mapped_column(ID, unique=True)
    host: Mapped[str] = mapped_column(String(255), unique=True)
    hypervisor_hostname: Mapped[str] = mapped_column(String(255))
    hypervisor_type: Mapped[str] = mapped_column(String(64))
    hypervisor_version: Mapped[int] = mapped_column(Integer)
    vcpus: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    local_gb: Mapped[int] = mapped_column(Integer)
    cpu_info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    host_ip: Mapped[str] = mapped_column(String(64), default="127.0.0.1")
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(String(255))
    forced_down: Mapped[bool] = mapped_column(Boolean, default=False)
    heartbeat: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Instance(Base):
    __tablename__ = "cmp_instance"
    __table_args__ = (
        # a project's page of servers in the default order, read in index order
        Index("ix_cmp_instance_project_deleted_created", "project_id", "deleted",
              "created_at", "uuid"),
        Index("ix_cmp_instance_host_deleted", "host", "deleted"),
    )
    uuid: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    hostname: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(String(255), index=True)
    node: Mapped[str | None] = mapped_column(String(255))
    availability_zone: Mapped[str | None] = mapped_column(String(255))
    flavor_id: Mapped[str] = mapped_column(String(255), index=True)
    flavor: Mapped[dict[str, Any]] = mapped_column(JSON)  # the flavor as it was at boot
    vcpus: Mapped[int] = mapped_column(Integer, default=0)  # of flavor, for quota sums
    memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    # A resize in progress: the new flavor (the old one stays in ``flavor`` until confirm).
    new_flavor: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    image_ref: Mapped[str] = mapped_column(String(36), index=True, default="")
    key_name: Mapped[str | None] = mapped_column(String(255))
    key_data: Mapped[str | None] = mapped_column(Text)
    user_data: Mapped[str | None] = mapped_column(Text)
    config_drive: Mapped[str] = mapped_column(String(8), default="")
    disk_config: Mapped[str] = mapped_column(String(8), default="MANUAL")
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    vm_state: Mapped[str] = mapped_column(String(32), index=True)
    task_state: Mapped[str | None] = mapped_column(String(64), index=True)
    power_state: Mapped[int] = mapped_column(Integer, default=0)
    # What the work in task_state still needs (e.g. reboot type, snapshot image id).
    task_args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    fault: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    locked_by: Mapped[str | None] = mapped_column(String(16))
    locked_reason: Mapped[str | None] = mapped_column(String(255))
    access_ip_v4: Mapped[str | None] = mapped_column(String(39))
    access_ip_v6: Mapped[str | None] = mapped_column(String(39))
    reservation_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    launch_index: Mapped[int] = mapped_column(Integer, default=0)
    admin_pass: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    launched_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    terminated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class InstanceTag(Base):
    __tablename__ = "cmp_instance_tag"
    instance_uuid: Mapped[str] = mapped_column(
        ID, ForeignKey("cmp_instance.uuid", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(80), primary_key=True, index=True)


class InstancePort(Base):
    """A port of an instance, in attach order (Nova's network info cache): ``preserve`` marks
    a port the user passed (unbound, not deleted, when the server goes)."""

    __tablename__ = "cmp_instance_port"
    instance_uuid: Mapped[str] = mapped_column(
        ID, ForeignKey("cmp_instance.uuid", ondelete="CASCADE"), primary_key=True)
    port_id: Mapped[str] = mapped_column(ID, primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    preserve: Mapped[bool] = mapped_column(Boolean, default=False)
    tag: Mapped[str | None] = mapped_column(String(60))


class InstancePciDevice(Base):
    """A host PCI device (a GPU) passed through to an instance: one row per device, and a
    device of a host belongs to one instance at a time (the primary key)."""

    __tablename__ = "cmp_instance_pci_device"
    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    address: Mapped[str] = mapped_column(String(16), primary_key=True)  # 0000:17:00.0
    instance_uuid: Mapped[str] = mapped_column(
        ID, ForeignKey("cmp_instance.uuid", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class BlockDeviceMapping(Base):
    """A volume of an instance (Nova's block device mapping): its device name, the Cinder
    attachment, and where the agent is with it (attaching, attached, detaching)."""

    __tablename__ = "cmp_block_device_mapping"
    id: Mapped[str] = mapped_column(ID, primary_key=True)  # Nova's attachment uuid (2.89)
    instance_uuid: Mapped[str] = mapped_column(
        ID, ForeignKey("cmp_instance.uuid", ondelete="CASCADE"), index=True)
    volume_id: Mapped[str] = mapped_column(ID, index=True)
    attachment_id: Mapped[str | None] = mapped_column(ID)
    device_name: Mapped[str] = mapped_column(String(64))
    boot_index: Mapped[int | None] = mapped_column(Integer)
    delete_on_termination: Mapped[bool] = mapped_column(Boolean, default=False)
    tag: Mapped[str | None] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(16), default="attaching")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ServerGroup(Base):
    __tablename__ = "cmp_server_group"
    uuid: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(PROJECT, index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    policy: Mapped[str] = mapped_column(String(32))
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ServerGroupMember(Base):
    __tablename__ = "cmp_server_group_member"
    group_uuid: Mapped[str] = mapped_column(
        ID, ForeignKey("cmp_server_group.uuid", ondelete="CASCADE"), primary_key=True)
    instance_uuid: Mapped[str] = mapped_column(ID, primary_key=True, index=True)


class InstanceAction(Base):
    __tablename__ = "cmp_instance_action"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_uuid: Mapped[str] = mapped_column(ID, index=True)
    action: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    project_id: Mapped[str] = mapped_column(PROJECT)
    user_id: Mapped[str] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(String(255))
    start_time: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class InstanceActionEvent(Base):
    __tablename__ = "cmp_instance_action_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("cmp_instance_action.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(64))
    host: Mapped[str | None] = mapped_column(String(255))
    result: Mapped[str | None] = mapped_column(String(32))
    traceback: Mapped[str | None] = mapped_column(Text)
    start_time: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finish_time: Mapped[dt.datetime | None] = mapped_column(default=None)


class AgentCredential(Base):
    """The secret a compute host's agent authenticates with on the internal agent API: only
    its SHA-256 is kept (the secret is 32 random bytes, so a slow hash adds nothing)."""

    __tablename__ = "cmp_agent_credential"
    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Migration(Base):
    """One move of an instance between hosts (Nova's ``migrations`` table, what
    ``GET /os-migrations`` lists): cold migration, live migration, evacuation, resize."""

    __tablename__ = "cmp_migration"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(ID, unique=True)
    instance_uuid: Mapped[str] = mapped_column(ID, index=True)
    project_id: Mapped[str] = mapped_column(PROJECT)
    user_id: Mapped[str] = mapped_column(String(64))
    # migration | live-migration | evacuation | resize
    migration_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), index=True)
    source_compute: Mapped[str | None] = mapped_column(String(255))
    source_node: Mapped[str | None] = mapped_column(String(255))
    dest_compute: Mapped[str | None] = mapped_column(String(255))
    dest_node: Mapped[str | None] = mapped_column(String(255))
    dest_host: Mapped[str | None] = mapped_column(String(255))
    old_flavor_id: Mapped[str | None] = mapped_column(String(255))
    new_flavor_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Aggregate(Base):
    """A host aggregate (Nova's ``os-aggregates``): a named group of hosts with metadata;
    the ``availability_zone`` key of its metadata makes its hosts an availability zone."""

    __tablename__ = "cmp_aggregate"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(ID, unique=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class AggregateHost(Base):
    __tablename__ = "cmp_aggregate_host"
    aggregate_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("cmp_aggregate.id", ondelete="CASCADE"), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)


class AggregateMetadata(Base):
    __tablename__ = "cmp_aggregate_metadata"
    aggregate_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("cmp_aggregate.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))
