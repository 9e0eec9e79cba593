"""Floating IPs: an address of an external network, mapped to a fixed IP of a port that a
router with a gateway on that network can reach."""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import delete, select
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
)
from onestack.core.network.listing import Attr, ListQuery, Page, run, standard_attrs, to_optional
from onestack.core.network.ports import create_port_in, delete_port_in
from onestack.core.network.routers import is_interface_of
from onestack.db.models.network import FloatingIP, IPAllocation, Network, Port, Router

ATTRS: dict[str, Attr] = {
    **standard_attrs(FloatingIP),
    "floating_network_id": Attr(FloatingIP.floating_network_id),
    "floating_ip_address": Attr(FloatingIP.floating_ip_address),
    "port_id": Attr(FloatingIP.port_id, to_optional(str)),
    "fixed_ip_address": Attr(FloatingIP.fixed_ip_address, to_optional(str)),
    "router_id": Attr(FloatingIP.router_id, to_optional(str)),
    "status": Attr(FloatingIP.status),
}


def _bad(message: str) -> errors.NeutronBadRequest:
    return errors.NeutronBadRequest("floatingip", message)


async def _router_for(s: AsyncSession, fip: FloatingIP, port: Port, subnet_id: str) -> str:
    """A router with a gateway on the FIP's network and an interface on the subnet."""
    routers = select(Router.id).where(Router.gw_network_id == fip.floating_network_id)
    row = (await s.execute(
        select(Port.device_id).join(IPAllocation, IPAllocation.port_id == Port.id).where(
            is_interface_of(routers), IPAllocation.subnet_id == subnet_id).order_by(
            Port.created_at))).first()
    if row is None:
        raise errors.ExternalGatewayForFloatingIPNotFound(fip.floating_network_id, subnet_id,
                                                          port.id)
    return str(row[0])


async def _associate(s: AsyncSession, ctx: RequestContext, fip: FloatingIP,
                     port_id: str | None, fixed_ip: str | None) -> None:
    if port_id is None:
        fip.port_id = fip.fixed_ip_address = fip.router_id = None
        fip.status = "DOWN"
        return
    port = await fetch(s, Port, port_id, visible_ports(ctx), errors.PortNotFound)
    if not is_admin(ctx) and port.project_id != fip.project_id:
        raise _bad(f"Cannot create floating IP and bind it to Port {port_id}, since that port "
                   "is owned by a different tenant")
    v4 = [a for a in port.fixed_ips if ipaddress.ip_address(a.ip_address).version == 4]
    if fixed_ip is not None:
        chosen = next((a for a in port.fixed_ips if a.ip_address == fixed_ip), None)
        if chosen is None:
            raise _bad(f"Port {port_id} does not have fixed ip {fixed_ip}")
        if ipaddress.ip_address(fixed_ip).version != 4:
            raise _bad(f"Cannot process floating IP association with {fixed_ip}, only IPv4 "
                       "addresses can be associated to a floating IP")
    elif not v4:
        raise _bad(f"Cannot add floating IP to port {port_id} that has no fixed IPv4 "
                   "addresses")
    elif len(v4) > 1:
        raise _bad(f"Port {port_id} has multiple fixed IPv4 addresses. Must provide a "
                   "specific IPv4 address when assigning a floating IP")
    else:
        chosen = v4[0]
    other = (await s.execute(select(FloatingIP).where(
        FloatingIP.port_id == port_id, FloatingIP.fixed_ip_address == chosen.ip_address,
        FloatingIP.floating_network_id == fip.floating_network_id,
        FloatingIP.id != fip.id))).scalars().first()
    if other is not None:
        raise errors.FloatingIPPortAlreadyAssociated(port_id, other.id,
                                                     other.floating_ip_address,
                                                     chosen.ip_address)
    fip.router_id = await _router_for(s, fip, port, chosen.subnet_id)
    fip.port_id, fip.fixed_ip_address = port_id, chosen.ip_address


class FloatingIPs(ResourceStore[FloatingIP]):
    model = FloatingIP

    async def search(self, ctx: RequestContext, q: ListQuery) -> Page:
        async with self.read() as s:
            return await run(s, FloatingIP, owned(FloatingIP, ctx), q, ATTRS,
                             missing=errors.FloatingIPNotFound)

    async def get(self, ctx: RequestContext, fip_id: str) -> FloatingIP:
        async with self.read() as s:
            return await fetch(s, FloatingIP, fip_id, owned(FloatingIP, ctx),
                               errors.FloatingIPNotFound)

    async def create(self, ctx: RequestContext, items: list[dict[str, Any]]
                     ) -> list[FloatingIP]:
        async def work(s: AsyncSession) -> list[str]:
            ids = []
            for data in items:
                net_id = str(data.get("floating_network_id"))
                network = await fetch(s, Network, net_id, visible_networks(ctx),
                                      errors.NetworkNotFound)
                if not network.external:
                    raise _bad(f"Network {net_id} is not a valid external network")
                project = data.get("project_id") or project_of(ctx)
                await check_quota(s, project, "floatingip")
                fip = FloatingIP(project_id=project, floating_network_id=net_id,
                                 description=data.get("description", ""), status="DOWN")
                touch_new(fip)
                request: dict[str, Any] = {}
                if data.get("subnet_id"):
                    request["subnet_id"] = data["subnet_id"]
                if data.get("floating_ip_address"):
                    request["ip_address"] = data["floating_ip_address"]
                requests = [request] if request else None
                if requests is None:
                    for sub in (x for x in network.subnets if x.ip_version == 4):
                        if ipam.pick_address(sub, await ipam.used_addresses(s, sub.id)):
                            requests = [{"subnet_id": sub.id}]
                            break
                    else:
                        raise errors.IpAddressGenerationFailure(net_id)
                port = await create_port_in(s, ctx, {
                    "network_id": net_id, "project_id": "", "name": "",
                    "device_owner": "network:floatingip", "device_id": fip.id,
                    "fixed_ips": requests}, internal=True)
                address = (await s.execute(select(IPAllocation.ip_address).where(
                    IPAllocation.port_id == port.id))).scalars().first()
                if address is None:
                    raise errors.IpAddressGenerationFailure(net_id)
                fip.floating_ip_address, fip.floating_port_id = address, port.id
                s.add(fip)
                await s.flush()
                await _associate(s, ctx, fip, data.get("port_id"), data.get("fixed_ip_address"))
                if data.get("tags"):
                    await set_tags(s, fip.id, data["tags"])
                ids.append(fip.id)
            return ids

        return await self.get_many(await self.txn(work))

    async def update(self, ctx: RequestContext, fip_id: str, data: dict[str, Any],
                     if_match: int | None = None) -> FloatingIP:
        async def work(s: AsyncSession) -> None:
            fip = await fetch(s, FloatingIP, fip_id, owned(FloatingIP, ctx),
                              errors.FloatingIPNotFound, lock=True)
            check_revision(fip, if_match)
            apply(fip, data, ("description",))
            if "port_id" in data:
                await _associate(s, ctx, fip, data["port_id"], data.get("fixed_ip_address"))
            elif "fixed_ip_address" in data and fip.port_id:
                await _associate(s, ctx, fip, fip.port_id, data["fixed_ip_address"])
            bump(fip)

        await self.txn(work)
        return (await self.get_many([fip_id]))[0]

    async def delete(self, ctx: RequestContext, fip_id: str, if_match: int | None = None
                     ) -> None:
        async def work(s: AsyncSession) -> None:
            fip = await fetch(s, FloatingIP, fip_id, owned(FloatingIP, ctx),
                              errors.FloatingIPNotFound, lock=True)
            check_revision(fip, if_match)
            port_id = fip.floating_port_id
            await drop_tags(s, [fip_id])
            await s.execute(delete(FloatingIP).where(FloatingIP.id == fip_id))
            await delete_port_in(s, port_id)

        await self.txn(work)
