"""Neutron's tables: networks and their segments, subnets and pools, ports and their IP
allocations, routers, floating IPs, security groups, quotas and tags.

Every resource carries Neutron's standard attributes (project, description, revision number,
timestamps). The unique constraint on (subnet_id, ip_address) is what keeps IPAM from ever
handing out an address twice, whatever the concurrency.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from onestack.db.models.base import Base, new_id, utcnow

ID = String(36)
PROJECT = String(64)


def _uuid() -> str:
    h = new_id()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _tags(model: str) -> Any:
    return relationship("NetTag", primaryjoin=f"foreign(NetTag.resource_id) == {model}.id",
                        lazy="selectin", viewonly=True, order_by="NetTag.tag")


class NetTag(Base):
    """Tags of every Neutron resource (resource ids are UUIDs, unique across kinds)."""

    __tablename__ = "net_tag"
    resource_id: Mapped[str] = mapped_column(ID, primary_key=True)
    tag: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)


class Standard:
    """Neutron's standard attributes."""

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=_uuid)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True, default="")
    name: Mapped[str] = mapped_column(String(255), default="", index=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    revision_number: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class Network(Standard, Base):
    __tablename__ = "net_network"
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE", index=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    external: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    mtu: Mapped[int] = mapped_column(Integer, default=1500, index=True)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    network_type: Mapped[str] = mapped_column(String(16), default="vxlan", index=True)
    physical_network: Mapped[str | None] = mapped_column(String(64), index=True)
    segmentation_id: Mapped[int | None] = mapped_column(Integer, index=True)
    subnets: Mapped[list[Subnet]] = relationship(
        lazy="selectin", order_by="Subnet.created_at", viewonly=True)
    tag_rows: Mapped[list[NetTag]] = _tags("Network")


class Segment(Base):
    """Allocated segmentation ids: one row per (type, physical network, id)."""

    __tablename__ = "net_segment"
    network_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    physical_network: Mapped[str] = mapped_column(String(64), primary_key=True)
    segmentation_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    network_id: Mapped[str] = mapped_column(
        ID, ForeignKey("net_network.id", ondelete="CASCADE"), index=True)


class SubnetPool(Standard, Base):
    __tablename__ = "net_subnetpool"
    ip_version: Mapped[int] = mapped_column(Integer, index=True)
    prefixes: Mapped[list[Any]] = mapped_column(default=list)
    default_prefixlen: Mapped[int] = mapped_column(Integer)
    min_prefixlen: Mapped[int] = mapped_column(Integer)
    max_prefixlen: Mapped[int] = mapped_column(Integer)
    shared: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    default_quota: Mapped[int | None] = mapped_column(Integer)
    tag_rows: Mapped[list[NetTag]] = _tags("SubnetPool")


class Subnet(Standard, Base):
    __tablename__ = "net_subnet"
    network_id: Mapped[str] = mapped_column(
        ID, ForeignKey("net_network.id", ondelete="CASCADE"), index=True)
    ip_version: Mapped[int] = mapped_column(Integer, index=True)
    cidr: Mapped[str] = mapped_column(String(64), index=True)
    gateway_ip: Mapped[str | None] = mapped_column(String(64), index=True)
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    ipv6_ra_mode: Mapped[str | None] = mapped_column(String(32), index=True)
    ipv6_address_mode: Mapped[str | None] = mapped_column(String(32), index=True)
    subnetpool_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("net_subnetpool.id"), index=True)
    allocation_pools: Mapped[list[Any]] = mapped_column(default=list)
    dns_nameservers: Mapped[list[Any]] = mapped_column(default=list)
    host_routes: Mapped[list[Any]] = mapped_column(default=list)
    tag_rows: Mapped[list[NetTag]] = _tags("Subnet")


class Port(Standard, Base):
    __tablename__ = "net_port"
    __table_args__ = (UniqueConstraint("network_id", "mac_address"),)
    network_id: Mapped[str] = mapped_column(
        ID, ForeignKey("net_network.id"), index=True)
    mac_address: Mapped[str] = mapped_column(String(32), index=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN", index=True)
    device_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    device_owner: Mapped[str] = mapped_column(String(255), default="", index=True)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    allowed_address_pairs: Mapped[list[Any]] = mapped_column(default=list)
    binding_host_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    binding_vnic_type: Mapped[str] = mapped_column(String(64), default="normal", index=True)
    binding_vif_type: Mapped[str] = mapped_column(String(64), default="unbound")
    binding_vif_details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    binding_profile: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # extra_dhcp_opt: [{"opt_name", "opt_value", "ip_version"}], written into dnsmasq's files
    extra_dhcp_opts: Mapped[list[Any]] = mapped_column(default=list)
    fixed_ips: Mapped[list[IPAllocation]] = relationship(
        lazy="selectin", order_by="IPAllocation.position", viewonly=True)
    security_group_rows: Mapped[list[PortSecurityGroup]] = relationship(
        lazy="selectin", viewonly=True)
    tag_rows: Mapped[list[NetTag]] = _tags("Port")


class IPAllocation(Base):
    """One address of one port. (subnet_id, ip_address) is unique: IPAM's guard."""

    __tablename__ = "net_ip_allocation"
    subnet_id: Mapped[str] = mapped_column(
        ID, ForeignKey("net_subnet.id", ondelete="CASCADE"), primary_key=True)
    ip_address: Mapped[str] = mapped_column(String(64), primary_key=True)
    port_id: Mapped[str] = mapped_column(
        ID, ForeignKey("net_port.id", ondelete="CASCADE"), index=True)
    network_id: Mapped[str] = mapped_column(ID, index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class PortSecurityGroup(Base):
    __tablename__ = "net_port_security_group"
    port_id: Mapped[str] = mapped_column(
        ID, ForeignKey("net_port.id", ondelete="CASCADE"), primary_key=True)
    security_group_id: Mapped[str] = mapped_column(
        ID, ForeignKey("net_security_group.id"), primary_key=True, index=True)


class Router(Standard, Base):
    __tablename__ = "net_router"
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE", index=True)
    gw_network_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("net_network.id"), index=True)
    gw_port_id: Mapped[str | None] = mapped_column(ID, ForeignKey("net_port.id"))
    enable_snat: Mapped[bool] = mapped_column(Boolean, default=True)
    routes: Mapped[list[Any]] = mapped_column(default=list)
    gw_port: Mapped[Port | None] = relationship(lazy="selectin", viewonly=True)
    tag_rows: Mapped[list[NetTag]] = _tags("Router")


class FloatingIP(Standard, Base):
    __tablename__ = "net_floatingip"
    floating_network_id: Mapped[str] = mapped_column(
        ID, ForeignKey("net_network.id"), index=True)
    floating_ip_address: Mapped[str] = mapped_column(String(64), index=True)
    floating_port_id: Mapped[str] = mapped_column(
        ID, ForeignKey("net_port.id", ondelete="CASCADE"), unique=True)
    port_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("net_port.id", ondelete="SET NULL"), index=True)
    fixed_ip_address: Mapped[str | None] = mapped_column(String(64), index=True)
    router_id: Mapped[str | None] = mapped_column(ID, ForeignKey("net_router.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN", index=True)
    tag_rows: Mapped[list[NetTag]] = _tags("FloatingIP")


class SecurityGroup(Standard, Base):
    __tablename__ = "net_security_group"
    stateful: Mapped[bool] = mapped_column(Boolean, default=True)
    rules: Mapped[list[SecurityGroupRule]] = relationship(
        lazy="selectin", order_by="SecurityGroupRule.created_at",
        foreign_keys="SecurityGroupRule.security_group_id", viewonly=True)
    tag_rows: Mapped[list[NetTag]] = _tags("SecurityGroup")


class DefaultSecurityGroup(Base):
    """One row per project: makes creating the `default` group race-free."""

    __tablename__ = "net_default_security_group"
    project_id: Mapped[str] = mapped_column(PROJECT, primary_key=True)
    security_group_id: Mapped[str] = mapped_column(
        ID, ForeignKey("net_security_group.id", ondelete="CASCADE"), unique=True)


class SecurityGroupRule(Standard, Base):
    __tablename__ = "net_security_group_rule"
    security_group_id: Mapped[str] = mapped_column(
        ID, ForeignKey("net_security_group.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(8), index=True)
    ethertype: Mapped[str] = mapped_column(String(8), index=True)
    protocol: Mapped[str | None] = mapped_column(String(40), index=True)
    port_range_min: Mapped[int | None] = mapped_column(Integer, index=True)
    port_range_max: Mapped[int | None] = mapped_column(Integer, index=True)
    remote_ip_prefix: Mapped[str | None] = mapped_column(String(64), index=True)
    remote_group_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("net_security_group.id", ondelete="CASCADE"), index=True)
    tag_rows: Mapped[list[NetTag]] = _tags("SecurityGroupRule")


class NetQuota(Base):
    __tablename__ = "net_quota"
    project_id: Mapped[str] = mapped_column(PROJECT, primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    limit: Mapped[int] = mapped_column(Integer)


class NetAgent(Base):
    """A part of the data plane on one host, registered the first time it is seen alive
    (Neutron's agents: admin_state_up and description are the operator's)."""

    __tablename__ = "net_agent"
    __table_args__ = (UniqueConstraint("host", "agent_type"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=_uuid)
    host: Mapped[str] = mapped_column(String(255), index=True)
    agent_type: Mapped[str] = mapped_column(String(255), index=True)
    binary: Mapped[str] = mapped_column(String(255), index=True)
    topic: Mapped[str] = mapped_column(String(255), index=True)
    availability_zone: Mapped[str | None] = mapped_column(String(255), index=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    description: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MeteringLabel(Base):
    __tablename__ = "net_metering_label"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=_uuid)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True, default="")
    name: Mapped[str] = mapped_column(String(255), default="", index=True)
    description: Mapped[str] = mapped_column(String(1024), default="")
    shared: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


class MeteringLabelRule(Base):
    __tablename__ = "net_metering_label_rule"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=_uuid)
    project_id: Mapped[str] = mapped_column(PROJECT, index=True, default="")
    metering_label_id: Mapped[str] = mapped_column(
        ID, ForeignKey("net_metering_label.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(8), index=True)
    excluded: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    remote_ip_prefix: Mapped[str | None] = mapped_column(String(64), index=True)
    source_ip_prefix: Mapped[str | None] = mapped_column(String(64), index=True)
    destination_ip_prefix: Mapped[str | None] = mapped_column(String(64), index=True)


TAGGED: dict[str, type[Base]] = {
    "networks": Network, "subnets": Subnet, "ports": Port, "routers": Router,
    "floatingips": FloatingIP, "security_groups": SecurityGroup, "subnetpools": SubnetPool,
    "security-groups": SecurityGroup,
}
