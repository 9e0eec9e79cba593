"""Routers: external gateway (with SNAT flag and fixed IPs), interfaces, static routes."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.context import RequestContext
from onestack.core.network import errors, ipam
from onestack.core.network.base import (
    ResourceStore,
    apply,
    bump,
    check_quota,
    check_revision,
    drop_tags,
    fetch,
    is_admin,
    owned,
    project_of,
    set_tags,
    touch_new,
    visible_networks,
    visible_ports,
    visible_subnets,
)
from onestack.core.network.listing import Attr, ListQuery, Page, run, standard_attrs, to_bool
from onestack.core.network.ports import create_port_in, delete_port_in, set_fixed_ips
from onestack.db.models.network import FloatingIP, IPAllocation, Network, Port, Router, Subnet
from onestack.errors import Conflict

INTERFACE = "network:router_interface"
GATEWAY = "network:router_gateway"
ATTRS: dict[str, Attr] = {
    **standard_attrs(Router),
    "admin_state_up": Attr(Router.admin_state_up, to_bool),
    "status": Attr(Router.status),
}


@dataclass
class Interface:
    router: Router
    port_id: str
    subnet_ids: list[str]
    network_id: str


def _bad(message: str) -> errors.NeutronBadRequest:
    return errors.NeutronBadRequest("router", message)


def is_interface_of(routers: Any) -> ColumnElement[bool]:
    """A port is an interface of one of ``routers`` (a select of router ids) when it names
    the router as its device, has a router interface owner, and is the router's project's:
    device_id and device_owner are the port owner's to write, so a port of another project
    naming a router is not its interface (the data plane applies the same rule)."""
    owner = select(Router.project_id).where(Router.id == Port.device_id).scalar_subquery()
    return and_(Port.device_id.in_(routers), Port.device_owner.startswith(INTERFACE),
                Port.project_id == owner)


async def interface_ports(s: AsyncSession, router_id: str) -> list[Port]:
    return list((await s.execute(select(Port).where(
        is_interface_of(select(Router.id).where(Router.id == router_id))))).scalars())


async def _interface_subnets(s: AsyncSession, router_id: str) -> list[Subnet]:
    ports = await interface_ports(s, router_id)
    ids = [a.subnet_id for p in ports for a in p.fixed_ips]
    if not ids:
        return []
    return list((await s.execute(select(Subnet).where(Subnet.id.in_(ids)))).scalars())


def _check_overlap(existing: list[Subnet], new: list[Subnet]) -> None:
    for sub in new:
        net = ipaddress.ip_network(sub.cidr)
        for other in existing:
            if other.id == sub.id:
                raise _bad(f"Router already has a port on subnet {sub.id}")
            if net.overlaps(ipaddress.ip_network(other.cidr)):
                raise _bad(f"Cidr {sub.cidr} of subnet {sub.id} overlaps with cidr "
                           f"{other.cidr} of subnet {other.id}")


async def _check_interface_network(s: AsyncSession, network_id: str) -> None:
    """A router interface never goes on an external network: its gateway address there is
    the upstream router's (on ``public``, the host's own address)."""
    network = await s.get(Network, network_id)
    if network is not None and network.external:
        raise _bad(f"Cannot add an interface on external network {network_id} to a router; "
                   "set it as the router's external gateway instead")


def _check_port_in_pools(ctx: RequestContext, port: Port, subnets: list[Subnet]) -> None:
    """Neutron's rule for a port given as an interface: an address outside a subnet's
    allocation pools (its gateway, say) only on a subnet of the caller's project."""
    if is_admin(ctx):
        return
    by_id = {x.id: x for x in subnets}
    for alloc in port.fixed_ips:
        sub = by_id.get(alloc.subnet_id)
        if sub is None or sub.project_id == project_of(ctx):
            continue
        if not ipam.in_pools(ipaddress.ip_address(alloc.ip_address), sub.allocation_pools):
            raise _bad(f"Cannot add interface to router because specified port {port.id} has "
                       f"an IP address out of the allocation pool of subnet {sub.id}, which "
                       "is not owned by the project making the request")


async def _set_gateway(s: AsyncSession, ctx: RequestContext, router: Router,
                       info: dict[str, Any] | None) -> None:
    net_id = (info or {}).get("network_id")
    if router.gw_port_id and net_id != router.gw_network_id:
        in_use = (await s.execute(select(FloatingIP.id).where(
            FloatingIP.router_id == router.id))).first()
        if in_use is not None:
            raise Conflict(f"Gateway cannot be updated for router {router.id}, since a gateway "
                           "to external network is required by one or more floating IPs.")
        old = router.gw_port_id
        router.gw_port_id = router.gw_network_id = None
        await s.flush()
        await delete_port_in(s, old)
    if info is None or not net_id:
        router.enable_snat = True
        return
    network = await fetch(s, Network, net_id, visible_networks(ctx), errors.NetworkNotFound)
    if not network.external:
        raise _bad(f"Network {net_id} is not an external network")
    router.enable_snat = info.get("enable_snat", router.enable_snat if router.gw_port_id
                                  else True)
    fixed = info.get("external_fixed_ips")
    if router.gw_port_id:
        if fixed is not None:
            port = await s.get(Port, router.gw_port_id)
            if port is not None:
                await set_fixed_ips(s, port, fixed)
        return
    port = await create_port_in(s, ctx, {
        "network_id": net_id, "project_id": "", "device_owner": GATEWAY,
        "device_id": router.id, "fixed_ips": fixed, "name": ""}, internal=True)
    router.gw_port_id, router.gw_network_id = port.id, net_id


async def _check_routes(s: AsyncSession, router_id: str, routes: list[dict[str, Any]]
                        ) -> list[dict[str, str]]:
    subnets = await _interface_subnets(s, router_id)
    nets = [ipaddress.ip_network(x.cidr) for x in subnets]
    out: list[dict[str, str]] = []
    for route in routes:
        dest = ipam.parse_cidr(route.get("destination"))
        hop = ipam.parse_ip(route.get("nexthop"), "nexthop")
        if not any(hop in n for n in nets):
            raise errors.NeutronBadRequest(
                "router", f"Invalid format for routes: {route}, the nexthop is not connected "
                "with router")
        item = {"destination": str(dest), "nexthop": str(hop)}
        if item not in out:
            out.append(item)
    return out


class Routers(ResourceStore[Router]):
    model = Router

    async def search(self, ctx: RequestContext, q: ListQuery) -> Page:
        async with self.read() as s:
            return await run(s, Router, owned(Router, ctx), q, ATTRS,
                             missing=errors.RouterNotFound)

    async def get(self, ctx: RequestContext, router_id: str) -> Router:
        async with self.read() as s:
            return await fetch(s, Router, router_id, owned(Router, ctx), errors.RouterNotFound)

    async def create(self, ctx: RequestContext, items: list[dict[str, Any]]) -> list[Router]:
        async def work(s: AsyncSession) -> list[str]:
            ids = []
            for data in items:
                project = data.get("project_id") or project_of(ctx)
                await check_quota(s, project, "router")
                router = Router(project_id=project, name=data.get("name", ""),
                                description=data.get("description", ""),
                                admin_state_up=data.get("admin_state_up", True))
                touch_new(router)
                s.add(router)
                await s.flush()
                await _set_gateway(s, ctx, router, data.get("external_gateway_info"))
                if data.get("routes"):
                    router.routes = await _check_routes(s, router.id, data["routes"])
                if data.get("tags"):
                    await set_tags(s, router.id, data["tags"])
                ids.append(router.id)
            return ids

        return await self.get_many(await self.txn(work))

    async def update(self, ctx: RequestContext, router_id: str, data: dict[str, Any],
                     if_match: int | None = None) -> Router:
        async def work(s: AsyncSession) -> None:
            router = await fetch(s, Router, router_id, owned(Router, ctx),
                                 errors.RouterNotFound, lock=True)
            check_revision(router, if_match)
            changed = apply(router, data, ("name", "description", "admin_state_up"))
            if "external_gateway_info" in data:
                await _set_gateway(s, ctx, router, data["external_gateway_info"] or None)
                changed = True
            if "routes" in data:
                router.routes = await _check_routes(s, router_id, data["routes"] or [])
                changed = True
            if changed:
                bump(router)

        await self.txn(work)
        return (await self.get_many([router_id]))[0]

    async def delete(self, ctx: RequestContext, router_id: str, if_match: int | None = None
                     ) -> None:
        async def work(s: AsyncSession) -> None:
            router = await fetch(s, Router, router_id, owned(Router, ctx),
                                 errors.RouterNotFound, lock=True)
            check_revision(router, if_match)
            if await interface_ports(s, router_id):
                raise errors.RouterInUse(router_id)
            if (await s.execute(select(FloatingIP.id).where(
                    FloatingIP.router_id == router_id))).first() is not None:
                raise errors.RouterInUse(router_id, "still has floating IPs")
            gw = router.gw_port_id
            router.gw_port_id = None
            await s.flush()
            if gw:
                await delete_port_in(s, gw)
            await drop_tags(s, [router_id])
            await s.execute(delete(Router).where(Router.id == router_id))

        await self.txn(work)

    # --- interfaces ------------------------------------------------------------------------
    async def add_interface(self, ctx: RequestContext, router_id: str, subnet_id: str | None,
                            port_id: str | None) -> Interface:
        if bool(subnet_id) == bool(port_id):
            raise _bad("Either subnet_id or port_id must be specified" if not subnet_id
                       else "Cannot specify both subnet-id and port-id")

        async def work(s: AsyncSession) -> Interface:
            router = await fetch(s, Router, router_id, owned(Router, ctx),
                                 errors.RouterNotFound, lock=True)
            existing = await _interface_subnets(s, router_id)
            if port_id:
                port = await fetch(s, Port, port_id, visible_ports(ctx), errors.PortNotFound,
                                   lock=True)
                if port.device_id:
                    raise errors.PortInUse(port.network_id, port_id, port.device_id)
                if port.project_id != router.project_id:
                    raise _bad(f"Cannot add interface to router {router_id}: port {port_id} "
                               "belongs to another project than the router")
                ids = [a.subnet_id for a in port.fixed_ips]
                if not ids:
                    raise _bad(f"Router port must have at least one fixed IP (port {port_id})")
                subnets = list((await s.execute(select(Subnet).where(Subnet.id.in_(ids))
                                                )).scalars())
                await _check_interface_network(s, port.network_id)
                _check_port_in_pools(ctx, port, subnets)
                if len([x for x in subnets if x.ip_version == 4]) > 1:
                    raise _bad(f"Port {port_id} has multiple fixed IPv4 addresses; a router "
                               "interface takes one")
                _check_overlap(existing, subnets)
                port.device_id, port.device_owner = router_id, INTERFACE
                bump(port)
            else:
                subnet = await fetch(s, Subnet, str(subnet_id), visible_subnets(ctx),
                                     errors.SubnetNotFound)
                await _check_interface_network(s, subnet.network_id)
                if subnet.project_id != project_of(ctx) and not is_admin(ctx):
                    raise _bad(f"Cannot add interface to router because subnet {subnet_id} "
                               "is not owned by project making the request")
                if not subnet.gateway_ip:
                    raise _bad(f"Subnet {subnet_id} for router interface must have a gateway "
                               "IP")
                _check_overlap(existing, [subnet])
                port = await create_port_in(s, ctx, {
                    "network_id": subnet.network_id, "project_id": router.project_id,
                    "device_owner": INTERFACE, "device_id": router_id, "name": "",
                    "fixed_ips": [{"subnet_id": subnet.id, "ip_address": subnet.gateway_ip}]},
                    internal=True)
                ids = [subnet.id]
            bump(router)
            return Interface(router, port.id, ids, port.network_id)

        return await self.txn(work)

    async def remove_interface(self, ctx: RequestContext, router_id: str,
                               subnet_id: str | None, port_id: str | None) -> Interface:
        if not subnet_id and not port_id:
            raise _bad("Either subnet_id or port_id must be specified")

        async def work(s: AsyncSession) -> Interface:
            router = await fetch(s, Router, router_id, owned(Router, ctx),
                                 errors.RouterNotFound, lock=True)
            ports = await interface_ports(s, router_id)
            if port_id:
                port = next((p for p in ports if p.id == port_id), None)
                if port is None:
                    raise errors.RouterInterfaceNotFound(router_id, port_id)
                if subnet_id and subnet_id not in [a.subnet_id for a in port.fixed_ips]:
                    raise errors.RouterInterfaceNotFoundForSubnet(router_id, subnet_id)
            else:
                found = [p for p in ports if any(a.subnet_id == subnet_id
                                                 for a in p.fixed_ips)]
                if not found:
                    raise errors.RouterInterfaceNotFoundForSubnet(router_id, str(subnet_id))
                port = found[0]
            ids = [a.subnet_id for a in port.fixed_ips]
            used = (await s.execute(select(FloatingIP.id).where(
                FloatingIP.router_id == router_id,
                FloatingIP.port_id.in_(select(IPAllocation.port_id).where(
                    IPAllocation.subnet_id.in_(ids)))))).first()
            if used is not None:
                raise errors.RouterInterfaceInUseByFloatingIP(router_id, ids[0] if ids else "")
            await delete_port_in(s, port.id)
            bump(router)
            return Interface(router, port.id, ids, port.network_id)

        return await self.txn(work)
