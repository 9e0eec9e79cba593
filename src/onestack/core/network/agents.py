"""Neutron's agents: Onestack's data plane, per host, as the agents Neutron would list.

There is no agent process per function here: the network node (the host whose network agent
runs DHCP, routers and the metadata service, the controller) does what Neutron's DHCP, L3
and metadata agents do; every host with guests runs bridges, taps and VXLAN as the Linux
bridge agent does; the load balancer agent runs haproxy where its driver is real. Which
host is which comes from what the data plane leaves in the database (the hosts of the
DHCP ports it makes, the compute hosts) and from the network agent of this process; their
heartbeats from the compute hosts' heartbeats and the local agent's last pass.

An agent gets its row (id, admin_state_up, description) the first time it is seen alive;
deleting the row of a live agent makes it register again with a new id, as a Neutron agent
does at its next report.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.context import RequestContext
from onestack.core.network import errors
from onestack.core.network.base import ResourceStore, fetch, is_admin
from onestack.core.network.listing import Attr, ListQuery, Page, run, to_bool
from onestack.core.network.ports import create_port_in, delete_port_in
from onestack.db.models.base import utcnow
from onestack.db.models.compute import ComputeNode
from onestack.db.models.network import NetAgent, Network, Port, Router

AGENT_DOWN_TIME = 75.0  # seconds without a heartbeat before an agent is dead (Neutron's)
DHCP_OWNER = "network:dhcp"
DHCP, L3, METADATA, L2, LB = ("DHCP agent", "L3 agent", "Metadata agent",
                              "Linux bridge agent", "Loadbalancerv2 agent")
# agent_type -> (binary, topic, availability_zone)
KINDS: dict[str, tuple[str, str, str | None]] = {
    DHCP: ("neutron-dhcp-agent", "dhcp_agent", "nova"),
    L3: ("neutron-l3-agent", "l3_agent", "nova"),
    METADATA: ("neutron-metadata-agent", "N/A", None),
    L2: ("neutron-linuxbridge-agent", "N/A", None),
    LB: ("neutron-lbaasv2-agent", "n-lbaasv2_agent", None),
}
UPDATABLE = ("admin_state_up", "description")
ATTRS = {
    "id": Attr(NetAgent.id), "host": Attr(NetAgent.host),
    "agent_type": Attr(NetAgent.agent_type), "binary": Attr(NetAgent.binary),
    "topic": Attr(NetAgent.topic), "availability_zone": Attr(NetAgent.availability_zone),
    "admin_state_up": Attr(NetAgent.admin_state_up, to_bool),
    "description": Attr(NetAgent.description),
    "created_at": Attr(NetAgent.created_at), "started_at": Attr(NetAgent.started_at),
}


@dataclass
class HostPlane:
    """What one host's data plane does, and its last sign of life."""

    host: str
    heartbeat: dt.datetime | None = None
    network_node: bool = False  # DHCP, routers, metadata
    guests: bool = False  # bridges, taps and VXLAN for guests (the L2 part)
    lb_driver: str | None = None  # the load balancer data plane here (haproxy)

    def kinds(self) -> list[str]:
        out = [DHCP, L3, METADATA] if self.network_node else []
        if self.network_node or self.guests:
            out.append(L2)
        if self.lb_driver:
            out.append(LB)
        return out


@dataclass
class AgentView:
    """An agent row with what is known of it now."""

    row: NetAgent
    heartbeat: dt.datetime | None
    alive: bool
    configurations: dict[str, Any] = field(default_factory=dict)


def is_alive(heartbeat: dt.datetime | None, now: dt.datetime | None = None) -> bool:
    if heartbeat is None:
        return False
    return ((now or utcnow()) - heartbeat).total_seconds() < AGENT_DOWN_TIME


def merge(planes: list[HostPlane]) -> dict[str, HostPlane]:
    """One plane per host: roles joined, the newest heartbeat kept."""
    out: dict[str, HostPlane] = {}
    for p in planes:
        if not p.host:
            continue
        have = out.setdefault(p.host, HostPlane(p.host))
        have.network_node = have.network_node or p.network_node
        have.guests = have.guests or p.guests
        have.lb_driver = have.lb_driver or p.lb_driver
        if p.heartbeat is not None and (have.heartbeat is None or p.heartbeat > have.heartbeat):
            have.heartbeat = p.heartbeat
    return out


class Agents(ResourceStore[NetAgent]):
    model = NetAgent

    # --- the data plane, as recorded ----------------------------------------------------
    async def recorded_planes(self, s: AsyncSession) -> list[HostPlane]:
        """The network nodes (hosts of the data plane's DHCP ports) and the compute hosts,
        with the compute hosts' heartbeats."""
        beats = {h: b for h, b in (await s.execute(
            select(ComputeNode.host, ComputeNode.heartbeat)))}
        out = [HostPlane(h, b, guests=True) for h, b in beats.items()]
        dhcp_hosts = (await s.execute(select(Port.binding_host_id).distinct().where(
            Port.device_owner == DHCP_OWNER, Port.project_id == "",
            Port.binding_host_id != ""))).scalars()
        out += [HostPlane(h, beats.get(h), network_node=True) for h in dhcp_hosts]
        return out

    async def sync(self, local: list[HostPlane]) -> dict[str, HostPlane]:
        """Register the agents seen alive that have no row yet; the planes by host."""
        async with self.read() as s:
            planes = merge([*await self.recorded_planes(s), *local])
            have = set((await s.execute(select(NetAgent.host, NetAgent.agent_type))).all())
        now = utcnow()
        missing = [(p, kind) for p in planes.values() if is_alive(p.heartbeat, now)
                   for kind in p.kinds() if (p.host, kind) not in have]
        if missing:
            async def work(s: AsyncSession) -> None:
                for plane, kind in missing:
                    found = (await s.execute(select(NetAgent.id).where(
                        NetAgent.host == plane.host, NetAgent.agent_type == kind))).first()
                    if found is None:
                        binary, topic, zone = KINDS[kind]
                        s.add(NetAgent(host=plane.host, agent_type=kind, binary=binary,
                                       topic=topic, availability_zone=zone,
                                       created_at=now, started_at=now))

            await self.txn(work)
        return planes

    # --- the API ---------------------------------------------------------------------------
    async def search(self, ctx: RequestContext, q: ListQuery, local: list[HostPlane]
                     ) -> tuple[Page, list[AgentView]]:
        """Admins see every agent; anyone else an empty list (as Neutron's policy filters)."""
        if not is_admin(ctx):
            return Page([], False), []
        planes = await self.sync(local)
        special = {
            "agent_type": lambda values: func.lower(NetAgent.agent_type).in_(
                [v.lower() for v in values]),
            "alive": lambda values: NetAgent.host.in_(
                [h for h, p in planes.items() if is_alive(p.heartbeat) in
                 {to_bool(v) for v in values}]),
        }
        async with self.read() as s:
            page = await run(s, NetAgent, NetAgent.id.isnot(None), q, ATTRS, special,
                             errors.AgentNotFound)
            views = [await self._view(s, row, planes) for row in page.items]
        return page, views

    async def get(self, ctx: RequestContext, agent_id: str, local: list[HostPlane]
                  ) -> AgentView:
        if not is_admin(ctx):
            raise errors.AgentNotFound(agent_id)
        planes = await self.sync(local)
        async with self.read() as s:
            row = await fetch(s, NetAgent, agent_id, NetAgent.id.isnot(None),
                              errors.AgentNotFound)
            return await self._view(s, row, planes)

    async def update(self, ctx: RequestContext, agent_id: str, data: dict[str, Any],
                     local: list[HostPlane]) -> AgentView:
        await self.get(ctx, agent_id, local)

        async def work(s: AsyncSession) -> None:
            row = await fetch(s, NetAgent, agent_id, NetAgent.id.isnot(None),
                              errors.AgentNotFound, lock=True)
            for key in UPDATABLE:
                if key in data:
                    setattr(row, key, data[key])

        await self.txn(work)
        return await self.get(ctx, agent_id, local)

    async def delete(self, ctx: RequestContext, agent_id: str) -> None:
        if not is_admin(ctx):
            raise errors.AgentNotFound(agent_id)

        async def work(s: AsyncSession) -> None:
            await fetch(s, NetAgent, agent_id, NetAgent.id.isnot(None), errors.AgentNotFound)
            await s.execute(delete(NetAgent).where(NetAgent.id == agent_id))

        await self.txn(work)

    async def _view(self, s: AsyncSession, row: NetAgent, planes: dict[str, HostPlane]
                    ) -> AgentView:
        plane = planes.get(row.host)
        beat = plane.heartbeat if plane else None
        alive = is_alive(beat) and plane is not None and row.agent_type in plane.kinds()
        return AgentView(row, beat, alive, await self._configurations(s, row, plane))

    async def _configurations(self, s: AsyncSession, row: NetAgent,
                              plane: HostPlane | None) -> dict[str, Any]:
        if row.agent_type == DHCP:
            nets = len(await self._dhcp_network_ids(s, row.host))
            return {"dhcp_driver": "dnsmasq", "networks": nets}
        if row.agent_type == L3:
            routers = int((await s.execute(select(func.count()).select_from(Router))
                           ).scalar_one()) if plane and plane.network_node else 0
            return {"agent_mode": "legacy", "routers": routers}
        if row.agent_type == L2:
            return {"tunnel_types": ["vxlan"], "l2_population": False}
        if row.agent_type == LB:
            return {"device_drivers": [plane.lb_driver if plane else None]}
        return {"metadata_proxy": "169.254.169.254:80"}

    # --- DHCP agent scheduler ----------------------------------------------------------------
    @staticmethod
    async def _dhcp_network_ids(s: AsyncSession, host: str) -> list[str]:
        return list((await s.execute(select(Port.network_id).distinct().where(
            Port.device_owner == DHCP_OWNER, Port.project_id == "",
            Port.binding_host_id == host))).scalars())

    async def dhcp_agent(self, ctx: RequestContext, agent_id: str, local: list[HostPlane]
                         ) -> AgentView:
        found = await self.get(ctx, agent_id, local)
        if found.row.agent_type != DHCP:
            raise errors.InvalidInput(f"Agent {agent_id} is not a DHCP agent")
        return found

    async def networks_of(self, ctx: RequestContext, agent_id: str, local: list[HostPlane]
                          ) -> list[Network]:
        """The networks whose DHCP the agent's host serves (where its DHCP port is)."""
        agent = await self.get(ctx, agent_id, local)
        if agent.row.agent_type != DHCP:
            return []
        async with self.read() as s:
            ids = await self._dhcp_network_ids(s, agent.row.host)
            rows = (await s.execute(select(Network).where(Network.id.in_(ids))
                                    .order_by(Network.id))).scalars()
            return list(rows)

    async def dhcp_agents_of(self, ctx: RequestContext, network_id: str,
                             local: list[HostPlane]) -> list[AgentView]:
        if not is_admin(ctx):
            raise errors.NetworkNotFound(network_id)
        planes = await self.sync(local)
        async with self.read() as s:
            await fetch(s, Network, network_id, Network.id.isnot(None), errors.NetworkNotFound)
            hosts = select(Port.binding_host_id).where(
                Port.network_id == network_id, Port.device_owner == DHCP_OWNER,
                Port.project_id == "")
            rows = (await s.execute(select(NetAgent).where(
                NetAgent.agent_type == DHCP, NetAgent.host.in_(hosts))
                .order_by(NetAgent.id))).scalars()
            return [await self._view(s, r, planes) for r in rows]

    async def add_network(self, ctx: RequestContext, agent_id: str, network_id: str,
                          local: list[HostPlane]) -> None:
        """Serve the network's DHCP on the agent's host: its DHCP port, bound there (what
        the network agent makes by itself for a network with a DHCP-enabled subnet)."""
        agent = await self.dhcp_agent(ctx, agent_id, local)
        host = agent.row.host

        async def work(s: AsyncSession) -> None:
            await fetch(s, Network, network_id, Network.id.isnot(None), errors.NetworkNotFound)
            if network_id in await self._dhcp_network_ids(s, host):
                raise errors.NetworkHostedByDHCPAgent(network_id, agent_id)
            await create_port_in(s, ctx, {
                "network_id": network_id, "project_id": "", "device_owner": DHCP_OWNER,
                "device_id": f"dhcp-{host}", "binding:host_id": host, "name": ""},
                internal=True)

        await self.txn(work)

    async def remove_network(self, ctx: RequestContext, agent_id: str, network_id: str,
                             local: list[HostPlane]) -> None:
        """Stop serving the network's DHCP on the agent's host: its DHCP port goes (the
        network node's agent makes one again while the network has a DHCP-enabled subnet,
        as Neutron's automatic scheduling does)."""
        agent = await self.dhcp_agent(ctx, agent_id, local)

        async def work(s: AsyncSession) -> None:
            ports = list((await s.execute(select(Port.id).where(
                Port.network_id == network_id, Port.device_owner == DHCP_OWNER,
                Port.project_id == "", Port.binding_host_id == agent.row.host))).scalars())
            if not ports:
                raise errors.NetworkNotHostedByDhcpAgent(network_id, agent_id)
            for port_id in ports:
                await delete_port_in(s, port_id)

        await self.txn(work)

    # --- L3 agent scheduler (read only: every router lives on the network node) -------------
    async def routers_of(self, ctx: RequestContext, agent_id: str, local: list[HostPlane]
                         ) -> list[Router]:
        agent = await self.get(ctx, agent_id, local)
        if agent.row.agent_type != L3:
            return []
        async with self.read() as s:
            return list((await s.execute(select(Router).order_by(Router.id))).scalars())

    async def l3_agents_of(self, ctx: RequestContext, router_id: str,
                           local: list[HostPlane]) -> list[AgentView]:
        if not is_admin(ctx):
            raise errors.RouterNotFound(router_id)
        planes = await self.sync(local)
        async with self.read() as s:
            await fetch(s, Router, router_id, Router.id.isnot(None), errors.RouterNotFound)
            nodes = [h for h, p in planes.items() if p.network_node]
            rows = (await s.execute(select(NetAgent).where(
                NetAgent.agent_type == L3, NetAgent.host.in_(nodes))
                .order_by(NetAgent.id))).scalars()
            return [await self._view(s, r, planes) for r in rows]
