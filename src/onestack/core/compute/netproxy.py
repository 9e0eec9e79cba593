"""Nova's networking proxies over the network core: a server's security groups
(os-security-groups, add/removeSecurityGroup) and its interfaces (os-interface).

Security groups live on ports, as in Nova with Neutron: adding a group to a server adds it
to every port of the server. Attaching an interface creates (or claims) a port, records it
as the instance's next NIC and wakes the host's agent, which hot-plugs it into a running
guest; detaching does the reverse.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.compute import events, states
from onestack.core.compute.base import Caller, Links, Store
from onestack.core.compute.ports import Ports, port_ids, unbind_in
from onestack.core.compute.servers import not_found
from onestack.core.network.ports import delete_port_in
from onestack.db.engine import Database
from onestack.db.models.base import utcnow
from onestack.db.models.compute import Instance, InstancePort
from onestack.db.models.network import Port, PortSecurityGroup, SecurityGroup
from onestack.errors import BadRequest, Conflict, NotFound

INTERFACE_STATES = (states.ACTIVE, states.PAUSED, states.STOPPED)


class ServerNetworking(Store):
    def __init__(self, db: Database, ports: Ports, links: Links) -> None:
        super().__init__(db)
        self.ports = ports
        self.links = links

    async def _instance(self, s: AsyncSession, caller: Caller, uuid: str,
                        lock: bool = False) -> Instance:
        q = select(Instance).where(Instance.uuid == uuid)
        if lock:
            q = q.with_for_update()
        inst = await s.scalar(q)
        if inst is None or inst.deleted or (inst.project_id != caller.project_id and
                                            not caller.is_admin):
            raise not_found(uuid)
        return inst

    # --- security groups ---------------------------------------------------------------
    async def groups_of(self, caller: Caller, uuid: str) -> list[SecurityGroup]:
        async with self.db.read() as s:
            await self._instance(s, caller, uuid)
            ids = await port_ids(s, uuid)
            if not ids:
                return []
            q = select(SecurityGroup).where(SecurityGroup.id.in_(
                select(PortSecurityGroup.security_group_id).where(
                    PortSecurityGroup.port_id.in_(ids)))).order_by(SecurityGroup.name)
            return list((await s.execute(q)).scalars())

    async def project_groups(self, caller: Caller, all_projects: bool = False
                             ) -> list[SecurityGroup]:
        await self.ports.network.security_groups.ensure_default(caller.project_id)
        async with self.db.read() as s:
            q = select(SecurityGroup).order_by(SecurityGroup.created_at, SecurityGroup.id)
            if not (all_projects and caller.is_admin):
                q = q.where(SecurityGroup.project_id == caller.project_id)
            return list((await s.execute(q)).scalars())

    async def _group_id(self, s: AsyncSession, caller: Caller, inst: Instance,
                        name: str) -> str:
        rows = (await s.execute(select(SecurityGroup.id, SecurityGroup.name).where(
            SecurityGroup.project_id == inst.project_id))).all()
        ids = [i for i, _n in rows if i == name] or [i for i, n in rows if n == name]
        if not ids:
            raise NotFound(f"Security group {name} not found.")
        if len(ids) > 1:
            raise Conflict(f"Multiple security groups found matching '{name}'. Use an ID to "
                           "be more specific.")
        return str(ids[0])

    async def add_group(self, caller: Caller, uuid: str, name: str) -> None:
        await self.ports.network.security_groups.ensure_default(caller.project_id)
        async with self.write() as s:
            inst = await self._instance(s, caller, uuid, lock=True)
            sg_id = await self._group_id(s, caller, inst, name)
            ports = await self._secured_ports(s, uuid)
            have = set((await s.execute(select(PortSecurityGroup.port_id).where(
                PortSecurityGroup.security_group_id == sg_id,
                PortSecurityGroup.port_id.in_([p.id for p in ports])))).scalars())
            if len(have) == len(ports):
                raise BadRequest(f"Security group {name} is already associated with the "
                                 f"instance {uuid}")
            for port in ports:
                if port.id not in have:
                    s.add(PortSecurityGroup(port_id=port.id, security_group_id=sg_id))
                    _touch(port)
            await events.start(s, inst, "addSecurityGroup", caller, inst.host)
            await events.finish(s, uuid)
        self.ports.changed()

    async def remove_group(self, caller: Caller, uuid: str, name: str) -> None:
        async with self.write() as s:
            inst = await self._instance(s, caller, uuid, lock=True)
            sg_id = await self._group_id(s, caller, inst, name)
            ids = await port_ids(s, uuid)
            rows = (await s.execute(select(PortSecurityGroup).where(
                PortSecurityGroup.security_group_id == sg_id,
                PortSecurityGroup.port_id.in_(ids)))).scalars().all()
            if not rows:
                raise BadRequest(f"Security group {name} not associated with the instance "
                                 f"{uuid}")
            await s.execute(delete(PortSecurityGroup).where(
                PortSecurityGroup.security_group_id == sg_id,
                PortSecurityGroup.port_id.in_(ids)))
            for port in (await s.execute(select(Port).where(Port.id.in_(ids)))).scalars():
                _touch(port)
            await events.start(s, inst, "removeSecurityGroup", caller, inst.host)
            await events.finish(s, uuid)
        self.ports.changed()

    @staticmethod
    async def _secured_ports(s: AsyncSession, uuid: str) -> list[Port]:
        ids = await port_ids(s, uuid)
        ports = list((await s.execute(select(Port).where(Port.id.in_(ids)))).scalars())
        if not ports or not all(p.port_security_enabled for p in ports):
            raise BadRequest("Network requires port_security_enabled and subnet associated in "
                             "order to apply security groups.")
        return ports

    # --- interfaces --------------------------------------------------------------------
    async def interfaces(self, caller: Caller, uuid: str) -> list[tuple[Port, str | None]]:
        """The instance's ports in attach order, with each one's device tag."""
        async with self.db.read() as s:
            await self._instance(s, caller, uuid)
            rows = (await s.execute(select(Port, InstancePort.tag).join(
                InstancePort, InstancePort.port_id == Port.id).where(
                InstancePort.instance_uuid == uuid).order_by(InstancePort.position))).all()
            return [(p, t) for p, t in rows]

    async def interface(self, caller: Caller, uuid: str, port_id: str
                        ) -> tuple[Port, str | None]:
        for port, tag in await self.interfaces(caller, uuid):
            if port.id == port_id:
                return port, tag
        raise NotFound(f"Instance {uuid} is not attached to port {port_id}.")

    async def attach(self, caller: Caller, uuid: str, net_id: str | None,
                     port_id: str | None, fixed_ip: str | None, tag: str | None) -> str:
        """Create or claim a port for the instance; the port's id."""
        async with self.db.read() as s:
            inst = await self._instance(s, caller, uuid)
            _check_state(inst, "attach_interface")
        owner = Caller(inst.project_id, inst.user_id, caller.is_admin, caller.request_id)
        if port_id is None and net_id is None:
            networks: Any = "auto"
        else:
            networks = [{k: v for k, v in (("port", port_id), ("uuid", net_id),
                                            ("fixed_ip", fixed_ip), ("tag", tag)) if v}]
        plan = await self.ports.plan(owner, networks, 1, None)
        if not plan.nics:
            raise BadRequest("No network is available to attach an interface to: give a "
                             "net_id or port_id.")
        async with self.write() as s:
            inst = await self._instance(s, caller, uuid, lock=True)
            _check_state(inst, "attach_interface")
            before = set(await port_ids(s, uuid))
            position = await _next_position(s, uuid)
            await Ports.attach_in(s, owner, uuid, inst.availability_zone, plan, start=position)
            new = [p for p in await port_ids(s, uuid) if p not in before]
            if inst.host:
                await Ports.bind_in(s, uuid, inst.host, inst.availability_zone or "")
            inst.updated_at = utcnow()
            await events.start(s, inst, "attach_interface", caller, inst.host)
            await events.finish(s, uuid)
        self.ports.changed()
        self.links.wake(inst.host)
        return new[0]

    async def detach(self, caller: Caller, uuid: str, port_id: str) -> None:
        async with self.write() as s:
            inst = await self._instance(s, caller, uuid, lock=True)
            _check_state(inst, "detach_interface")
            link = await s.get(InstancePort, (uuid, port_id))
            if link is None:
                raise NotFound(f"Port {port_id} is not attached")
            if link.preserve:
                await unbind_in(s, port_id, uuid)
            else:
                await delete_port_in(s, port_id)
            await s.delete(link)
            inst.updated_at = utcnow()
            await events.start(s, inst, "detach_interface", caller, inst.host)
            await events.finish(s, uuid)
        self.ports.changed()
        self.links.wake(inst.host)


def _touch(port: Port) -> None:
    port.revision_number = (port.revision_number or 0) + 1
    port.updated_at = utcnow()


def _check_state(inst: Instance, action: str) -> None:
    if inst.vm_state not in INTERFACE_STATES or inst.task_state is not None:
        raise Conflict(f"Cannot '{action}' instance {inst.uuid} while it is in vm_state "
                       f"{inst.vm_state}")


async def _next_position(s: AsyncSession, uuid: str) -> int:
    rows = (await s.execute(select(InstancePort.position).where(
        InstancePort.instance_uuid == uuid))).scalars().all()
    return max(rows, default=-1) + 1
