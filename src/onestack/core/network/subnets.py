"""Subnets: CIDR, gateway, allocation pools, IPv6 modes, DNS servers and host routes."""

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
    project_of,
    set_tags,
    touch_new,
    visible_networks,
    visible_subnets,
)
from onestack.core.network.listing import (
    Attr,
    ListQuery,
    Page,
    run,
    standard_attrs,
    to_bool,
    to_int,
    to_optional,
)
from onestack.core.network.pools import allocate_cidr
from onestack.db.models.network import IPAllocation, Network, Port, Subnet, SubnetPool
from onestack.errors import NotFound

ATTRS: dict[str, Attr] = {
    **standard_attrs(Subnet),
    "network_id": Attr(Subnet.network_id),
    "ip_version": Attr(Subnet.ip_version, to_int),
    "cidr": Attr(Subnet.cidr),
    "gateway_ip": Attr(Subnet.gateway_ip, to_optional(str)),
    "enable_dhcp": Attr(Subnet.enable_dhcp, to_bool),
    "ipv6_ra_mode": Attr(Subnet.ipv6_ra_mode, to_optional(str)),
    "ipv6_address_mode": Attr(Subnet.ipv6_address_mode, to_optional(str)),
    "subnetpool_id": Attr(Subnet.subnetpool_id, to_optional(str)),
}
UPDATABLE = ("name", "description", "enable_dhcp", "dns_nameservers", "host_routes")
READ_ONLY = ("cidr", "ip_version", "network_id", "ipv6_ra_mode", "ipv6_address_mode",
             "subnetpool_id", "prefixlen")


def _check_modes(version: int, ra: str | None, addr: str | None, net: ipam.IPNet) -> None:
    if version == 4 and (ra or addr):
        raise errors.InvalidInput("ipv6_ra_mode and ipv6_address_mode cannot be set for an "
                                  "IPv4 subnet")
    for mode in (ra, addr):
        if mode is not None and mode not in ipam.IPV6_MODES:
            raise errors.InvalidInput(f"'{mode}' is not in {list(ipam.IPV6_MODES)}")
    if ra and addr and ra != addr:
        raise errors.InvalidInput(
            f"ipv6_ra_mode set to '{ra}' with ipv6_address_mode set to '{addr}' is not valid. "
            "If both attributes are set, they must be the same value")
    if (addr in ipam.AUTO_MODES or ra in ipam.AUTO_MODES) and net.prefixlen != 64:
        raise errors.InvalidInput(
            f"Invalid CIDR {net} for IPv6 address mode. OpenStack uses the EUI-64 address "
            "format, which requires the prefix to be /64")


def _gateway(net: ipam.IPNet, value: Any) -> ipam.IPAddr | None:
    if value is None:
        return None
    gw = ipam.parse_ip(value, "IP address for the gateway")
    if gw.version != net.version:
        raise errors.InvalidInput(f"Gateway IP version inconsistent with subnet {net}")
    if gw in net and not ipam.usable(net, gw):
        raise errors.InvalidInput(f"Gateway is not valid on subnet: {value} is the network or "
                                  "broadcast address")
    return gw


def _dns(version: int, servers: list[Any]) -> list[str]:
    out: list[str] = []
    for server in servers:
        ip = str(ipam.parse_ip(server, "nameserver"))
        if ip in out:
            raise errors.InvalidInput(f"Duplicate nameserver '{server}'")
        out.append(ip)
    return out


def _routes(version: int, routes: list[dict[str, Any]]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for route in routes:
        dest = ipam.parse_cidr(route.get("destination"))
        hop = ipam.parse_ip(route.get("nexthop"), "nexthop")
        if dest.version != version or hop.version != version:
            raise errors.InvalidInput(f"Host route {route} does not match the subnet's IP "
                                      "version")
        item = {"destination": ipam.canonical_cidr(route["destination"]),
                "nexthop": str(hop)}
        if item in out:
            raise errors.InvalidInput(f"Duplicate hostroute '{route}'")
        out.append(item)
    return out


def _overlap(net: ipam.IPNet, others: list[Subnet], network_id: str) -> None:
    for other in others:
        if net.overlaps(ipaddress.ip_network(other.cidr)):
            raise errors.InvalidInput(
                f"Requested subnet with cidr: {net} for network: {network_id} overlaps with "
                "another subnet")


class Subnets(ResourceStore[Subnet]):
    model = Subnet

    async def search(self, ctx: RequestContext, q: ListQuery) -> Page:
        async with self.read() as s:
            return await run(s, Subnet, visible_subnets(ctx), q, ATTRS,
                             {"router:external": _external_filter},
                             missing=errors.SubnetNotFound)

    async def get(self, ctx: RequestContext, subnet_id: str) -> Subnet:
        async with self.read() as s:
            return await fetch(s, Subnet, subnet_id, visible_subnets(ctx),
                               errors.SubnetNotFound)

    async def external_ids(self, network_ids: set[str]) -> set[str]:
        async with self.read() as s:
            rows = await s.execute(select(Network.id).where(
                Network.id.in_(network_ids), Network.external.is_(True)))
            return set(rows.scalars())

    async def create(self, ctx: RequestContext, items: list[dict[str, Any]]) -> list[Subnet]:
        async def work(s: AsyncSession) -> list[str]:
            return [await self._create_one(s, ctx, data) for data in items]

        return await self.get_many(await self.txn(work))

    async def _create_one(self, s: AsyncSession, ctx: RequestContext, data: dict[str, Any]
                          ) -> str:
        net_id = data["network_id"]
        network = await fetch(s, Network, net_id, visible_networks(ctx),
                              errors.NetworkNotFound, lock=True)
        project = data.get("project_id") or project_of(ctx)
        if not is_admin(ctx) and not network.shared and network.project_id != project:
            raise NotFound(f"Tenant {project} not allowed to create subnet on this network")
        await check_quota(s, project, "subnet")
        existing = list((await s.execute(select(Subnet).where(Subnet.network_id == net_id))
                         ).scalars())
        version = data.get("ip_version")
        pool: SubnetPool | None = None
        if data.get("subnetpool_id"):
            pool = (await s.execute(select(SubnetPool).where(
                SubnetPool.id == data["subnetpool_id"]).with_for_update())).scalars().first()
            if pool is None or not (is_admin(ctx) or pool.shared or pool.project_id == project):
                raise errors.SubnetPoolNotFound(data["subnetpool_id"])
            if version is not None and version != pool.ip_version:
                raise errors.InvalidInput("ip_version does not match the subnet pool's")
            version = pool.ip_version
            cidr = await allocate_cidr(s, pool, data.get("cidr"), data.get("prefixlen"))
            net = ipaddress.ip_network(cidr)
        else:
            if data.get("cidr") is None:
                raise errors.NeutronBadRequest(
                    "subnets", "a cidr must be specified in the absence of a subnet pool")
            net = ipam.normalize_cidr(data["cidr"])
            if data.get("prefixlen") is not None:
                raise errors.InvalidInput("prefixlen is only valid with a subnetpool_id")
        if version is None:
            version = net.version
        if net.version != version:
            raise errors.InvalidInput(f"Cidr {net} does not match ip_version {version}")
        ra, addr = data.get("ipv6_ra_mode"), data.get("ipv6_address_mode")
        _check_modes(version, ra, addr, net)
        _overlap(net, existing, net_id)
        gw = (ipam.first_host(net) if "gateway_ip" not in data
              else _gateway(net, data["gateway_ip"]))
        if "allocation_pools" in data and data["allocation_pools"] is not None:
            pools = ipam.validate_pools(net, data["allocation_pools"], gw)
        else:
            pools = ipam.default_pools(net, gw)
        subnet = Subnet(project_id=project, network_id=net_id, name=data.get("name", ""),
                        description=data.get("description", ""), ip_version=version,
                        cidr=str(net), gateway_ip=str(gw) if gw is not None else None,
                        enable_dhcp=data.get("enable_dhcp", True), ipv6_ra_mode=ra,
                        ipv6_address_mode=addr, subnetpool_id=pool.id if pool else None,
                        allocation_pools=pools,
                        dns_nameservers=_dns(version, data.get("dns_nameservers") or []),
                        host_routes=_routes(version, data.get("host_routes") or []))
        touch_new(subnet)
        s.add(subnet)
        await s.flush()
        if data.get("tags"):
            await set_tags(s, subnet.id, data["tags"])
        bump(network)
        return subnet.id

    async def update(self, ctx: RequestContext, subnet_id: str, data: dict[str, Any],
                     if_match: int | None = None) -> Subnet:
        async def work(s: AsyncSession) -> None:
            sub = await fetch(s, Subnet, subnet_id, visible_subnets(ctx),
                              errors.SubnetNotFound, lock=True)
            check_revision(sub, if_match)
            for key in READ_ONLY:
                if key in data and data[key] != getattr(sub, key, None):
                    raise errors.InvalidInput(f"Cannot update read-only attribute {key}")
            net = ipaddress.ip_network(sub.cidr)
            changes = dict(data)
            if "dns_nameservers" in changes:
                changes["dns_nameservers"] = _dns(sub.ip_version,
                                                  changes["dns_nameservers"] or [])
            if "host_routes" in changes:
                changes["host_routes"] = _routes(sub.ip_version, changes["host_routes"] or [])
            changed = apply(sub, changes, UPDATABLE)
            gw = ipaddress.ip_address(sub.gateway_ip) if sub.gateway_ip else None
            if "gateway_ip" in data:
                gw = _gateway(net, data["gateway_ip"])
            pools = sub.allocation_pools
            if data.get("allocation_pools") is not None:
                pools = data["allocation_pools"]
            if "gateway_ip" in data or data.get("allocation_pools") is not None:
                pools = ipam.validate_pools(net, pools, gw)
                new_gw = str(gw) if gw is not None else None
                if new_gw != sub.gateway_ip or pools != sub.allocation_pools:
                    sub.gateway_ip, sub.allocation_pools = new_gw, pools
                    changed = True
            if changed:
                bump(sub)

        await self.txn(work)
        return (await self.get_many([subnet_id]))[0]

    async def delete(self, ctx: RequestContext, subnet_id: str, if_match: int | None = None
                     ) -> None:
        async def work(s: AsyncSession) -> None:
            sub = await fetch(s, Subnet, subnet_id, visible_subnets(ctx),
                              errors.SubnetNotFound, lock=True)
            check_revision(sub, if_match)
            rows = (await s.execute(
                select(IPAllocation.port_id, Port.device_owner)
                .join(Port, Port.id == IPAllocation.port_id)
                .where(IPAllocation.subnet_id == subnet_id))).all()
            for _port_id, owner in rows:
                auto_removable = ipam.is_auto(sub) and owner not in ipam.ROUTER_OWNERS
                if owner != "network:dhcp" and not auto_removable:
                    raise errors.SubnetInUse(subnet_id)
            await s.execute(delete(IPAllocation).where(IPAllocation.subnet_id == subnet_id))
            await drop_tags(s, [subnet_id])
            await s.execute(delete(Subnet).where(Subnet.id == subnet_id))
            network = await s.get(Network, sub.network_id)
            if network is not None:
                bump(network)

        await self.txn(work)


def _external_filter(values: list[str]) -> Any:
    wanted = [to_bool(v) for v in values]
    ext = select(Network.id).where(Network.external.in_(wanted))
    return Subnet.network_id.in_(ext)
