"""The VIP: a real Neutron port on the load balancer's subnet (device owner ``Octavia``),
made and removed in the load balancer's own transaction, with a security group of its own
that opens the listeners' ports and nothing else."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.context import RequestContext
from onestack.core.load_balancer import errors
from onestack.core.load_balancer.base import Tree
from onestack.core.network.base import touch_new, visible_ports, visible_subnets
from onestack.core.network.ports import create_port_in, delete_port_in
from onestack.db.models.network import (
    IPAllocation,
    Port,
    PortSecurityGroup,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)

OWNER = "Octavia"


@dataclass
class Vip:
    port_id: str | None
    network_id: str
    subnet_id: str
    address: str | None


def _invalid_sub(resource: str, ident: str) -> Exception:
    return errors.validation(f"{resource} {ident} not found.")


async def resolve(s: AsyncSession, ctx: RequestContext, data: dict[str, Any]) -> Vip:
    """Where the VIP goes, from vip_port_id, vip_subnet_id or vip_network_id (Octavia's
    order), checked against what the caller may see."""
    address = data.get("vip_address")
    if data.get("vip_port_id"):
        port = (await s.execute(select(Port).where(Port.id == data["vip_port_id"],
                                                   visible_ports(ctx)))).scalars().first()
        if port is None:
            raise _invalid_sub("Port", data["vip_port_id"])
        if port.device_owner or port.device_id:
            raise errors.validation(f"Port {port.id} is already in use by "
                                    f"{port.device_owner or port.device_id}.")
        ips = list((await s.execute(select(IPAllocation).where(
            IPAllocation.port_id == port.id).order_by(IPAllocation.position))).scalars())
        chosen = [ip for ip in ips if address in (None, ip.ip_address)
                  and data.get("vip_subnet_id") in (None, ip.subnet_id)]
        if not chosen:
            raise errors.validation(f"Port {port.id} has no address on the requested VIP "
                                    "subnet or address.")
        return Vip(port.id, port.network_id, chosen[0].subnet_id, chosen[0].ip_address)
    subnets: list[Subnet]
    if data.get("vip_subnet_id"):
        subnet = (await s.execute(select(Subnet).where(Subnet.id == data["vip_subnet_id"],
                                                       visible_subnets(ctx)))).scalars().first()
        if subnet is None:
            raise _invalid_sub("Subnet", data["vip_subnet_id"])
        if data.get("vip_network_id") not in (None, subnet.network_id):
            raise errors.validation(f"Subnet {subnet.id} is not on network "
                                    f"{data['vip_network_id']}.")
        subnets = [subnet]
    elif data.get("vip_network_id"):
        subnets = list((await s.execute(select(Subnet).where(
            Subnet.network_id == data["vip_network_id"], visible_subnets(ctx))
            .order_by(Subnet.ip_version, Subnet.created_at))).scalars())
        if not subnets:
            raise errors.validation(f"Supplied network {data['vip_network_id']} does not "
                                    "exist or has no subnet.")
    else:
        raise errors.validation("VIP must contain one of: vip_port_id, vip_network_id, "
                                "vip_subnet_id.")
    if address is not None:
        ip = ipaddress.ip_address(address)
        inside = [x for x in subnets if ip in ipaddress.ip_network(x.cidr)]
        if not inside:
            raise errors.invalid("vip_address", address,
                                 "The VIP address is not on the VIP subnet.")
        subnets = inside
    return Vip(None, subnets[0].network_id, subnets[0].id, address)


async def make_port(s: AsyncSession, ctx: RequestContext, lb_id: str, project_id: str,
                    vip: Vip) -> tuple[str, str, str]:
    """(port id, address, security group id): a new VIP port, or the caller's."""
    group = SecurityGroup(project_id=project_id, name=f"lb-{lb_id}",
                          description=f"Octavia load balancer {lb_id}")
    touch_new(group)
    s.add(group)
    await s.flush()
    for ethertype in ("IPv4", "IPv6"):
        rule = SecurityGroupRule(project_id=project_id, security_group_id=group.id,
                                 direction="egress", ethertype=ethertype)
        touch_new(rule)
        s.add(rule)
    if vip.port_id is not None:
        port = await s.get(Port, vip.port_id)
        assert port is not None
        port.device_owner, port.device_id = OWNER, f"lb-{lb_id}"
        assert vip.address is not None
        return vip.port_id, vip.address, group.id
    fixed: dict[str, str] = {"subnet_id": vip.subnet_id}
    if vip.address:
        fixed["ip_address"] = vip.address
    port = await create_port_in(s, ctx, {
        "network_id": vip.network_id, "project_id": project_id, "name": f"octavia-lb-{lb_id}",
        "device_owner": OWNER, "device_id": f"lb-{lb_id}", "fixed_ips": [fixed],
        "security_groups": [group.id], "admin_state_up": True}, internal=True)
    address = (await s.execute(select(IPAllocation.ip_address).where(
        IPAllocation.port_id == port.id, IPAllocation.subnet_id == vip.subnet_id))).scalar_one()
    return port.id, address, group.id


async def sync_rules(s: AsyncSession, tree: Tree) -> None:
    """The VIP's security group opens exactly the listeners' ports (from their allowed
    CIDRs, or anywhere)."""
    lb = tree.lb
    if lb.security_group_id is None:
        return
    await s.execute(delete(SecurityGroupRule).where(
        SecurityGroupRule.security_group_id == lb.security_group_id,
        SecurityGroupRule.direction == "ingress"))
    version = ipaddress.ip_address(lb.vip_address).version
    for lis in tree.of("listener"):
        if lis.provisioning_status == "PENDING_DELETE":
            continue
        proto = "udp" if lis.attrs["protocol"] == "UDP" else "tcp"
        cidrs = [c for c in (lis.attrs.get("allowed_cidrs") or [None])
                 if c is None or ipaddress.ip_network(c).version == version]
        for cidr in cidrs:
            rule = SecurityGroupRule(
                project_id=lb.project_id, security_group_id=lb.security_group_id,
                direction="ingress", ethertype=f"IPv{version}", protocol=proto,
                port_range_min=lis.attrs["protocol_port"],
                port_range_max=lis.attrs["protocol_port"], remote_ip_prefix=cidr)
            touch_new(rule)
            s.add(rule)


async def member_port(s: AsyncSession, lb: Any, subnet_id: str) -> str | None:
    """The load balancer's port on another subnet its members are on (None: no such
    subnet any more)."""
    subnet = await s.get(Subnet, subnet_id)
    if subnet is None:
        return None
    found = (await s.execute(select(Port.id).join(
        IPAllocation, IPAllocation.port_id == Port.id).where(
        Port.device_id == f"lb-{lb.id}", IPAllocation.subnet_id == subnet_id))).scalars().first()
    if found is not None:
        return str(found)
    port = await create_port_in(s, RequestContext(is_admin=True), {
        "network_id": subnet.network_id, "project_id": lb.project_id,
        "name": f"octavia-lb-member-{lb.id}", "device_owner": OWNER,
        "device_id": f"lb-{lb.id}", "fixed_ips": [{"subnet_id": subnet_id}],
        "port_security_enabled": False}, internal=True)
    return port.id


async def remove(s: AsyncSession, tree: Tree) -> None:
    """The VIP port (when the load balancer made it), its member-subnet ports and its
    security group."""
    lb = tree.lb
    others = (await s.execute(select(Port.id).where(Port.device_id == f"lb-{lb.id}",
                                                    Port.id != lb.vip_port_id))).scalars()
    for port_id in list(others):
        await delete_port_in(s, port_id)
    if tree.lb.attrs.get("own_port", True):
        if await s.get(Port, lb.vip_port_id) is not None:
            await delete_port_in(s, lb.vip_port_id)
    else:
        port = await s.get(Port, lb.vip_port_id)
        if port is not None:
            port.device_owner, port.device_id = "", ""
            await s.execute(delete(SecurityGroupRule).where(
                SecurityGroupRule.security_group_id == lb.security_group_id))
    if lb.security_group_id:
        await s.flush()
        await s.execute(delete(PortSecurityGroup).where(
            PortSecurityGroup.security_group_id == lb.security_group_id))
        await s.execute(delete(SecurityGroupRule).where(
            SecurityGroupRule.security_group_id == lb.security_group_id))
        await s.execute(delete(SecurityGroup).where(SecurityGroup.id == lb.security_group_id))
