"""Networks and their segments (flat, vlan, vxlan, local).

Tenant networks are VXLAN with an allocated VNI and an MTU of 1450 (1500 less the VXLAN
overhead), ready for the data plane to come; flat, vlan and local networks get 1500.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.context import RequestContext
from onestack.core.network import errors
from onestack.core.network.base import (
    ResourceStore,
    apply,
    bump,
    check_quota,
    check_revision,
    drop_tags,
    fetch,
    project_of,
    set_tags,
    touch_new,
    visible_networks,
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
from onestack.db.models.network import (
    FloatingIP,
    IPAllocation,
    Network,
    Port,
    Segment,
    Subnet,
)

NETWORK_TYPES = ("flat", "vlan", "vxlan", "local")
SEGMENT_RANGES = {"vlan": (1, 4094), "vxlan": (1, 16777215)}
MAX_MTU = {"vxlan": 1450, "flat": 1500, "vlan": 1500, "local": 1500}
AUTO_OWNERS = ("network:dhcp",)  # ports deleted with their network

ATTRS: dict[str, Attr] = {
    **standard_attrs(Network),
    "admin_state_up": Attr(Network.admin_state_up, to_bool),
    "status": Attr(Network.status),
    "shared": Attr(Network.shared, to_bool),
    "router:external": Attr(Network.external, to_bool),
    "mtu": Attr(Network.mtu, to_int),
    "port_security_enabled": Attr(Network.port_security_enabled, to_bool),
    "provider:network_type": Attr(Network.network_type),
    "provider:physical_network": Attr(Network.physical_network, to_optional(str)),
    "provider:segmentation_id": Attr(Network.segmentation_id, to_optional(to_int)),
}


async def _segment(s: AsyncSession, net: Network, kind: str, physnet: str | None,
                   seg: int | None) -> None:
    if kind not in NETWORK_TYPES:
        raise errors.InvalidInput(f"network_type value '{kind}' not supported")
    if kind in ("flat", "vlan") and not physnet:
        raise errors.InvalidInput(f"physical_network required for {kind} provider network")
    if kind in ("local", "vxlan") and physnet:
        raise errors.InvalidInput(f"physical_network not allowed for {kind} provider network")
    if kind in ("flat", "local") and seg is not None:
        raise errors.InvalidInput(f"segmentation_id not allowed for {kind} provider network")
    net.network_type, net.physical_network, net.segmentation_id = kind, physnet, None
    if kind == "local":
        return
    key_physnet = physnet or ""
    if kind == "flat":
        taken = (await s.execute(select(Segment).where(
            Segment.network_type == "flat", Segment.physical_network == key_physnet))).first()
        if taken:
            raise errors.FlatNetworkInUse(key_physnet)
        s.add(Segment(network_type="flat", physical_network=key_physnet, segmentation_id=0,
                      network_id=net.id))
        return
    low, high = SEGMENT_RANGES[kind]
    used = set((await s.execute(select(Segment.segmentation_id).where(
        Segment.network_type == kind, Segment.physical_network == key_physnet))).scalars())
    if seg is not None:
        if not low <= seg <= high:
            raise errors.InvalidInput(
                f"segmentation_id out of range ({low} through {high})")
        if seg in used:
            raise errors.SegmentationIdInUse(kind, seg, key_physnet)
    else:
        seg = next((i for i in range(low, high + 1) if i not in used), None)
        if seg is None:
            raise errors.NoNetworkAvailable()
    net.segmentation_id = seg
    s.add(Segment(network_type=kind, physical_network=key_physnet, segmentation_id=seg,
                  network_id=net.id))


def _mtu(net: Network, wanted: int | None) -> int:
    limit = MAX_MTU[net.network_type]
    if wanted is None:
        return limit
    if wanted < 68 or wanted > limit:
        raise errors.InvalidInput(
            f"Requested MTU is too big, maximum is {limit}" if wanted > limit
            else "MTU must be at least 68")
    return wanted


class Networks(ResourceStore[Network]):
    model = Network

    async def search(self, ctx: RequestContext, q: ListQuery) -> Page:
        async with self.read() as s:
            return await run(s, Network, visible_networks(ctx), q, ATTRS,
                             missing=errors.NetworkNotFound)

    async def get(self, ctx: RequestContext, net_id: str) -> Network:
        async with self.read() as s:
            return await fetch(s, Network, net_id, visible_networks(ctx),
                               errors.NetworkNotFound)

    async def facts(self, net_id: str) -> Network:
        """A network whoever may see it (its owner and sharing, for the policy of a port
        on it: the port's owner may no longer see a network that stopped being shared)."""
        async with self.read() as s:
            return await fetch(s, Network, net_id, true(), errors.NetworkNotFound)

    async def create(self, ctx: RequestContext, items: list[dict[str, Any]]) -> list[Network]:
        async def work(s: AsyncSession) -> list[str]:
            ids = []
            for data in items:
                project = data.get("project_id") or project_of(ctx)
                await check_quota(s, project, "network")
                net = Network(project_id=project, name=data.get("name", ""),
                              description=data.get("description", ""),
                              admin_state_up=data.get("admin_state_up", True),
                              shared=data.get("shared", False),
                              external=data.get("router:external", False),
                              port_security_enabled=data.get("port_security_enabled", True))
                touch_new(net)
                s.add(net)
                await s.flush()
                await _segment(s, net, data.get("provider:network_type") or "vxlan",
                               data.get("provider:physical_network"),
                               data.get("provider:segmentation_id"))
                net.mtu = _mtu(net, data.get("mtu"))
                if data.get("tags"):
                    await set_tags(s, net.id, data["tags"])
                ids.append(net.id)
            return ids

        return await self.get_many(await self.txn(work))

    async def update(self, ctx: RequestContext, net_id: str, data: dict[str, Any],
                     if_match: int | None = None) -> Network:
        async def work(s: AsyncSession) -> None:
            net = await fetch(s, Network, net_id, visible_networks(ctx),
                              errors.NetworkNotFound, lock=True)
            check_revision(net, if_match)
            changed = apply(net, data, ("name", "description", "admin_state_up", "shared",
                                        "port_security_enabled"))
            if "router:external" in data and net.external != data["router:external"]:
                net.external = data["router:external"]
                changed = True
            if "mtu" in data and data["mtu"] != net.mtu:
                net.mtu = _mtu(net, data["mtu"])
                changed = True
            if any(k.startswith("provider:") for k in data):
                raise errors.InvalidInput("Plugin does not support updating provider "
                                          "attributes")
            if changed:
                bump(net)

        await self.txn(work)
        return (await self.get_many([net_id]))[0]

    async def delete(self, ctx: RequestContext, net_id: str, if_match: int | None = None
                     ) -> None:
        async def work(s: AsyncSession) -> None:
            net = await fetch(s, Network, net_id, visible_networks(ctx),
                              errors.NetworkNotFound, lock=True)
            check_revision(net, if_match)
            ports = (await s.execute(select(Port.id, Port.device_owner)
                                     .where(Port.network_id == net_id))).all()
            # floating IPs not associated with a port go with their network (Neutron)
            fips = (await s.execute(select(FloatingIP.id, FloatingIP.floating_port_id)
                                    .where(FloatingIP.floating_network_id == net_id,
                                           FloatingIP.port_id.is_(None)))).all()
            free = {port for _fip, port in fips}
            if any(owner not in AUTO_OWNERS and pid not in free for pid, owner in ports):
                raise errors.NetworkInUse(net_id)
            if fips:
                await s.execute(delete(FloatingIP).where(
                    FloatingIP.id.in_([fip for fip, _port in fips])))
            port_ids = [pid for pid, _owner in ports]
            subnet_ids = [sub.id for sub in net.subnets]
            await s.execute(delete(IPAllocation).where(IPAllocation.network_id == net_id))
            if port_ids:
                await s.execute(delete(Port).where(Port.id.in_(port_ids)))
            await s.execute(delete(Subnet).where(Subnet.network_id == net_id))
            await s.execute(delete(Segment).where(Segment.network_id == net_id))
            await drop_tags(s, [net_id, *subnet_ids, *port_ids, *(fip for fip, _ in fips)])
            await s.execute(delete(Network).where(Network.id == net_id))

        await self.txn(work)
