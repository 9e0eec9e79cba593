"""Ports: MAC, fixed IPs (through IPAM), security groups, address pairs and binding.

A port records desired state only: `binding:host_id` says where it should be plugged, and it
stays DOWN (vif_type `unbound`) until a host agent binds it and reports it ACTIVE.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.context import RequestContext
from onestack.core.network import errors, ipam
from onestack.core.network.base import (
    ResourceStore,
    bump,
    check_quota,
    check_revision,
    drop_tags,
    fetch,
    is_admin,
    project_of,
    set_tags,
    touch_new,
    visible_networks,
    visible_ports,
)
from onestack.core.network.listing import (
    Attr,
    ListQuery,
    Page,
    Special,
    run,
    standard_attrs,
    to_bool,
)
from onestack.db.models.network import (
    FloatingIP,
    IPAllocation,
    Network,
    Port,
    PortSecurityGroup,
    SecurityGroup,
    Subnet,
)
from onestack.errors import Conflict, NotFound

MAC = re.compile(r"([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}")
VNIC_TYPES = ("normal", "direct", "macvtap", "baremetal", "direct-physical",
              "virtio-forwarder", "smart-nic", "vdpa", "remote-managed")
L3_OWNERS = ("network:router_interface", "network:router_gateway", "network:floatingip",
             "network:router_interface_distributed", "network:ha_router_replicated_interface")
SIMPLE = ("name", "description", "admin_state_up", "device_id", "device_owner")
BINDING = {"binding:host_id": "binding_host_id", "binding:vnic_type": "binding_vnic_type",
           "binding:profile": "binding_profile"}


def _fixed_ips_filter(values: list[str]) -> Any:
    q = select(IPAllocation.port_id)
    ips, subnets = [], []
    for value in values:
        key, _, wanted = value.partition("=")
        if key == "ip_address":
            ips.append(wanted)
        elif key == "subnet_id":
            subnets.append(wanted)
        elif key == "ip_address_substr":
            q = q.where(IPAllocation.ip_address.contains(wanted, autoescape=True))
        else:
            raise errors.InvalidInput(f"Invalid fixed_ips filter {value!r}")
    if ips:
        q = q.where(IPAllocation.ip_address.in_(ips))
    if subnets:
        q = q.where(IPAllocation.subnet_id.in_(subnets))
    return Port.id.in_(q)


def _sg_filter(values: list[str]) -> Any:
    return Port.id.in_(select(PortSecurityGroup.port_id).where(
        PortSecurityGroup.security_group_id.in_(values)))


ATTRS: dict[str, Attr] = {
    **standard_attrs(Port),
    "network_id": Attr(Port.network_id), "mac_address": Attr(Port.mac_address),
    "admin_state_up": Attr(Port.admin_state_up, to_bool), "status": Attr(Port.status),
    "device_id": Attr(Port.device_id), "device_owner": Attr(Port.device_owner),
    "port_security_enabled": Attr(Port.port_security_enabled, to_bool),
    "binding:host_id": Attr(Port.binding_host_id),
    "binding:vnic_type": Attr(Port.binding_vnic_type),
}
SPECIAL: dict[str, Special] = {"fixed_ips": _fixed_ips_filter, "security_groups": _sg_filter}


def _mac(value: Any) -> str:
    if not isinstance(value, str) or not MAC.fullmatch(value) or int(value[:2], 16) & 1:
        raise errors.InvalidInput(f"'{value}' is not a valid MAC address")
    return value.lower()


def _pairs(port_mac: str, pairs: list[dict[str, Any]]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for pair in pairs:
        ip = ipam.canonical_ip_or_cidr(pair.get("ip_address"))
        item = {"ip_address": ip, "mac_address": _mac(pair.get("mac_address") or port_mac)}
        if item in out:
            raise errors.InvalidInput("Duplicate address detected in allowed address pairs")
        out.append(item)
    return out


async def _security_groups(s: AsyncSession, ctx: RequestContext, project: str,
                           ids: list[str]) -> list[str]:
    out: list[str] = []
    for sg_id in ids:
        q = select(SecurityGroup.id).where(SecurityGroup.id == sg_id)
        if not is_admin(ctx):
            q = q.where(SecurityGroup.project_id.in_((project, project_of(ctx))))
        if (await s.execute(q)).first() is None:
            raise errors.SecurityGroupNotFound(sg_id)
        if sg_id not in out:
            out.append(sg_id)
    return out


async def _subnets(s: AsyncSession, network_id: str) -> list[Subnet]:
    return list((await s.execute(select(Subnet).where(Subnet.network_id == network_id)
                                 .order_by(Subnet.created_at, Subnet.id))).scalars())


async def create_port_in(s: AsyncSession, ctx: RequestContext, data: dict[str, Any],
                         default_sg: str | None = None, internal: bool = False) -> Port:
    """Create one port inside the caller's transaction (also used by routers and FIPs)."""
    net_id = str(data.get("network_id"))
    network = await fetch(s, Network, net_id, visible_networks(ctx), errors.NetworkNotFound)
    project = data["project_id"] if "project_id" in data else project_of(ctx)
    if not (internal or is_admin(ctx) or network.shared or network.project_id == project):
        raise NotFound(f"Tenant {project} not allowed to create port on this network")
    if not internal:
        await check_quota(s, project, "port")
    owner = data.get("device_owner") or ""
    if "mac_address" in data and data["mac_address"] is not None:
        mac = _mac(data["mac_address"])
        taken = await s.execute(select(Port.id).where(Port.network_id == net_id,
                                                      Port.mac_address == mac))
        if taken.first() is not None:
            raise errors.MacAddressInUse(net_id, mac)
    else:
        mac = ipam.random_mac()
    security = data.get("port_security_enabled")
    if security is None:
        security = network.port_security_enabled
    groups = data.get("security_groups")
    if groups is None:
        groups = [default_sg] if security and default_sg and not owner.startswith(
            "network:") else []
    groups = await _security_groups(s, ctx, project, groups)
    pairs = _pairs(mac, data.get("allowed_address_pairs") or [])
    if not security and (groups or pairs):
        raise Conflict("Port security must be enabled and port must have an IP address in "
                       "order to use security groups or allowed address pairs.")
    vnic = data.get("binding:vnic_type") or "normal"
    if vnic not in VNIC_TYPES:
        raise errors.InvalidInput(f"'{vnic}' is not in {list(VNIC_TYPES)}")
    port = Port(project_id=project, network_id=net_id, name=data.get("name", ""),
                description=data.get("description", ""), mac_address=mac,
                admin_state_up=data.get("admin_state_up", True), device_id=data.get(
                    "device_id") or "", device_owner=owner, port_security_enabled=security,
                allowed_address_pairs=pairs, binding_host_id=data.get("binding:host_id") or "",
                binding_vnic_type=vnic, binding_profile=data.get("binding:profile") or {},
                extra_dhcp_opts=merge_dhcp_opts([], data.get("extra_dhcp_opts") or []),
                status="DOWN")
    touch_new(port)
    s.add(port)
    await s.flush()
    requests = data.get("fixed_ips")
    await ipam.allocate(s, port.id, net_id, await _subnets(s, net_id), requests, mac, owner)
    for sg_id in groups:
        s.add(PortSecurityGroup(port_id=port.id, security_group_id=sg_id))
    if data.get("tags"):
        await set_tags(s, port.id, data["tags"])
    await s.flush()
    return port


def merge_dhcp_opts(have: list[dict[str, Any]], given: list[dict[str, Any]]
                    ) -> list[dict[str, Any]]:
    """Neutron's update of extra_dhcp_opts: each given option replaces the one of the same
    name and IP version; one given with a null value removes it."""
    out = {(o["opt_name"], o["ip_version"]): o for o in have}
    for opt in given:
        key = (opt["opt_name"], opt["ip_version"])
        if opt["opt_value"] is None:
            out.pop(key, None)
        else:
            out[key] = dict(opt)
    return list(out.values())


async def delete_port_in(s: AsyncSession, port_id: str) -> None:
    await s.execute(update(FloatingIP).where(FloatingIP.port_id == port_id).values(
        port_id=None, fixed_ip_address=None, router_id=None, status="DOWN"))
    await s.execute(delete(IPAllocation).where(IPAllocation.port_id == port_id))
    await s.execute(delete(PortSecurityGroup).where(PortSecurityGroup.port_id == port_id))
    await drop_tags(s, [port_id])
    await s.execute(delete(Port).where(Port.id == port_id))


async def set_fixed_ips(s: AsyncSession, port: Port, requests: list[dict[str, Any]]) -> None:
    """Replace a port's addresses; an entry naming only a subnet keeps the address there."""
    old = list((await s.execute(select(IPAllocation).where(
        IPAllocation.port_id == port.id).order_by(IPAllocation.position))).scalars())
    keep: dict[str, str] = {}
    for row in old:
        keep.setdefault(row.subnet_id, row.ip_address)
    await s.execute(delete(IPAllocation).where(IPAllocation.port_id == port.id))
    await s.flush()
    rows = await ipam.allocate(s, port.id, port.network_id, await _subnets(s, port.network_id),
                               requests, port.mac_address, port.device_owner, keep)
    now = {row.ip_address for row in rows}
    await s.execute(update(FloatingIP).where(
        FloatingIP.port_id == port.id, FloatingIP.fixed_ip_address.not_in(now)).values(
        port_id=None, fixed_ip_address=None, router_id=None, status="DOWN"))


class Ports(ResourceStore[Port]):
    model = Port

    async def search(self, ctx: RequestContext, q: ListQuery) -> Page:
        async with self.read() as s:
            return await run(s, Port, visible_ports(ctx), q, ATTRS, SPECIAL,
                             missing=errors.PortNotFound)

    async def get(self, ctx: RequestContext, port_id: str) -> Port:
        async with self.read() as s:
            return await fetch(s, Port, port_id, visible_ports(ctx), errors.PortNotFound)

    async def create(self, ctx: RequestContext, items: list[dict[str, Any]],
                     default_sgs: dict[str, str | None]) -> list[Port]:
        async def work(s: AsyncSession) -> list[str]:
            out = []
            for data in items:
                project = data.get("project_id") or project_of(ctx)
                port = await create_port_in(s, ctx, data, default_sgs.get(project))
                out.append(port.id)
            return out

        return await self.get_many(await self.txn(work))

    async def update(self, ctx: RequestContext, port_id: str, data: dict[str, Any],
                     if_match: int | None = None) -> Port:
        async def work(s: AsyncSession) -> None:
            port = await fetch(s, Port, port_id, visible_ports(ctx), errors.PortNotFound,
                               lock=True)
            check_revision(port, if_match)
            before = {c.key: getattr(port, c.key) for c in Port.__table__.columns}
            for key in SIMPLE:
                if key in data:
                    setattr(port, key, data[key] if data[key] is not None else "")
            for api_key, column in BINDING.items():
                if api_key in data:
                    value = data[api_key]
                    if api_key == "binding:vnic_type" and value not in VNIC_TYPES:
                        raise errors.InvalidInput(f"'{value}' is not in {list(VNIC_TYPES)}")
                    setattr(port, column, value if value is not None else (
                        {} if column == "binding_profile" else ""))
            if "mac_address" in data and _mac(data["mac_address"]) != port.mac_address:
                if port.binding_vif_type not in ("unbound", "binding_failed"):
                    raise Conflict(f"Unable to complete operation on port {port_id}, port is "
                                   "already bound, port type: "
                                   f"{port.binding_vif_type}, old_mac {port.mac_address}, "
                                   f"new_mac {data['mac_address']}.")
                port.mac_address = _mac(data["mac_address"])
            if "port_security_enabled" in data:
                port.port_security_enabled = bool(data["port_security_enabled"])
            if "extra_dhcp_opts" in data:
                port.extra_dhcp_opts = merge_dhcp_opts(list(port.extra_dhcp_opts or []),
                                                       data["extra_dhcp_opts"] or [])
            changed = before != {c.key: getattr(port, c.key) for c in Port.__table__.columns}
            groups = None
            if "security_groups" in data:
                groups = await _security_groups(s, ctx, port.project_id,
                                                data["security_groups"] or [])
                await s.execute(delete(PortSecurityGroup).where(
                    PortSecurityGroup.port_id == port_id))
                for sg_id in groups:
                    s.add(PortSecurityGroup(port_id=port_id, security_group_id=sg_id))
                changed = True
            if "allowed_address_pairs" in data:
                port.allowed_address_pairs = _pairs(port.mac_address,
                                                    data["allowed_address_pairs"] or [])
                changed = True
            if not port.port_security_enabled:
                if groups is None:
                    groups = list((await s.execute(select(
                        PortSecurityGroup.security_group_id).where(
                        PortSecurityGroup.port_id == port_id))).scalars())
                if groups or port.allowed_address_pairs:
                    raise Conflict("Port has security group associated. Cannot disable port "
                                   "security or ip address until security group is removed")
            if "fixed_ips" in data:
                await set_fixed_ips(s, port, data["fixed_ips"] or [])
                changed = True
            if changed:
                bump(port)

        await self.txn(work)
        return (await self.get_many([port_id]))[0]

    async def delete(self, ctx: RequestContext, port_id: str, if_match: int | None = None
                     ) -> None:
        async def work(s: AsyncSession) -> None:
            port = await fetch(s, Port, port_id, visible_ports(ctx), errors.PortNotFound,
                               lock=True)
            check_revision(port, if_match)
            if port.device_owner in L3_OWNERS:
                raise errors.L3PortInUse(port_id, port.device_owner)
            await delete_port_in(s, port_id)

        await self.txn(work)
