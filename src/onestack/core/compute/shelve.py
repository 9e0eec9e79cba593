"""Shelve, shelve offload and unshelve (Nova's os-shelve), and rescue/unrescue.

Shelve: the host's agent stops the guest and uploads its root disk to the image
``<name>-shelved`` (made here first, as Nova's; a volume-backed server keeps its volumes and
gets no image): SHELVED. What a shelved server keeps (the image, when and where it was
shelved) stays in its ``task_args`` until it is unshelved: no action but shelve offload,
unshelve and delete is allowed meanwhile, so nothing else writes them.

Offload (at once when ``[compute] shelved_offload_time`` is 0, after that many seconds when
positive, never by itself when -1; ``shelveOffload`` any time, admins): the agent destroys
the guest and its disks, the host's allocation is given back: SHELVED_OFFLOADED, on no host.

Unshelve: a SHELVED server starts again where it is; an offloaded one goes to the host the
scheduler picks (in the zone asked for, 2.77; on the host asked for, 2.91, admins), whose
agent builds its root disk from the shelve image (``boot_image`` in the task's arguments);
the image is deleted once the server runs.

Rescue: the agent restarts the guest from a disk made from the rescue image (the server's
own image unless another is named), the server's own disks attached after it: RESCUE.
Unrescue starts it from its own disks again.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from onestack.core.compute import events, groups, states
from onestack.core.compute.actions import Actions
from onestack.core.compute.base import DEFAULT_AZ, Caller
from onestack.core.compute.build import Builder
from onestack.core.compute.servers import Servers
from onestack.core.compute.work import HostWork
from onestack.core.image.access import Caller as ImageCaller
from onestack.core.image.service import ImageService
from onestack.db.models.base import utcnow
from onestack.db.models.compute import Instance, ServerGroupMember
from onestack.errors import BadRequest, Conflict, NotFound
from onestack.scheduler.errors import NoValidHost
from onestack.scheduler.hosts import HostState

log = logging.getLogger(__name__)
IMAGE = "shelved_image_id"
BOOT_IMAGE = "boot_image"  # the image an agent builds the root (or rescue) disk from
OFFLOAD = "offload"  # a shelve's task argument: offload when it is done
KEPT = (IMAGE, "shelved_at", "shelved_host")  # what a shelved server keeps


class Shelving:
    def __init__(self, servers: Servers, builder: Builder, actions: Actions,
                 work: HostWork, image: ImageService, offload_time: float = 0) -> None:
        self.servers = servers
        self.work = work
        self.builder = builder
        self.actions = actions
        self.image = image
        self.offload_time = offload_time  # [compute] shelved_offload_time

    # --- the API ---------------------------------------------------------------------------
    async def shelve(self, caller: Caller, uuid: str) -> Instance:
        inst = (await self.servers.get(caller, uuid)).instance
        states.check("shelve", inst, is_admin=caller.is_admin)
        image_id = None
        if inst.image_ref:  # a volume-backed server's disk stays in its volumes
            image_id = await self.actions.new_snapshot_image(
                inst, caller.user_id, f"{inst.name}-shelved", {})
        try:
            return await self.servers.act(caller, uuid, "shelve", args={
                "image_id": image_id, IMAGE: image_id, "shelved_host": inst.host,
                OFFLOAD: self.offload_time == 0})
        except Exception:
            await self._delete_image(inst.project_id, image_id)
            raise

    async def offload(self, caller: Caller, uuid: str) -> Instance:
        inst = (await self.servers.get(caller, uuid)).instance
        return await self.servers.act(caller, uuid, "shelveOffload", args=kept(inst))

    async def unshelve(self, caller: Caller, uuid: str, zone: str | None = None,
                       host: str | None = None, moved: bool = False) -> Instance:
        """``moved``: the request named a zone or a host (only an offloaded server may);
        ``zone`` "": no zone (2.91's null)."""
        inst = (await self.servers.get(caller, uuid)).instance
        states.check("unshelve", inst, is_admin=caller.is_admin)
        if inst.vm_state == states.SHELVED:
            if moved:
                raise Conflict(
                    f"Specifying an availability zone or a host when unshelving server "
                    f"{uuid} with status SHELVED is not supported. The server status must "
                    "be SHELVED_OFFLOADED.")
            return await self.servers.act(caller, uuid, "unshelve", args=kept(inst))
        if zone:
            await self.builder.aggregates.check_zone(zone, True)
        if host is not None and not any(n.host == host
                                        for n in await self.builder.hosts.nodes()):
            raise BadRequest(f"Compute host {host} could not be found.")
        return await self._place(caller, inst, zone, host)

    async def _place(self, caller: Caller, inst: Instance, zone: str | None,
                     host: str | None) -> Instance:
        uuid = inst.uuid
        async with self.builder.db.read() as s:
            group_uuid = await s.scalar(select(ServerGroupMember.group_uuid).where(
                ServerGroupMember.instance_uuid == uuid))
            group = await groups.placement_of(s, group_uuid) if group_uuid else None
        if zone is not None:  # the zone asked for replaces its own (2.77); "": any (2.91)
            inst.availability_zone = zone or None
        extra = {"UnshelveHostFilter": _only(host, await self._host_names())} if host else {}
        try:
            target, rp = await self.builder._claim(inst, group, extra)
        except NoValidHost as exc:
            raise BadRequest(str(exc)) from exc
        try:
            async with self.servers.write() as s:
                row = await self.servers.instance(s, caller, uuid, lock=True)
                rule = states.check("unshelve", row, is_admin=caller.is_admin)
                if row.vm_state != states.SHELVED_OFFLOADED:
                    raise Conflict(f"Instance {uuid} changed meanwhile.")
                node = await self.builder.hosts.by_provider(rp)
                row.host, row.node = target, node.hypervisor_hostname if node else target
                row.availability_zone = node.availability_zone if node else DEFAULT_AZ
                if zone:
                    row.availability_zone = zone
                row.task_state = rule.task
                row.task_args = {"prior_vm_state": row.vm_state, **kept(row),
                                 BOOT_IMAGE: row.task_args.get(IMAGE)}
                row.updated_at = utcnow()
                await events.start(s, row, "unshelve", caller, target)
                await self.builder.ports.bind_in(s, uuid, target,
                                                 row.availability_zone or DEFAULT_AZ)
        except Exception:
            await self.servers.release(uuid)
            raise
        self.builder.ports.changed()
        self.builder.links.wake(target)
        log.info("instance %s: unshelved onto %s", uuid, target)
        return row

    async def _host_names(self) -> dict[str, str]:
        return {n.uuid: n.host for n in await self.builder.hosts.nodes()}

    # --- rescue ----------------------------------------------------------------------------
    async def rescue(self, caller: Caller, uuid: str, image_ref: str | None,
                     admin_pass: str) -> Instance:
        inst = (await self.servers.get(caller, uuid)).instance
        states.check("rescue", inst, is_admin=caller.is_admin)
        ref = image_ref or inst.image_ref
        if not ref:
            raise BadRequest("Cannot rescue a volume-backed server without a "
                             "rescue_image_ref.")
        image_id = await self.builder.check_image(caller, ref, inst.flavor)  # 400 if unknown
        return await self.servers.act(caller, uuid, "rescue", args={
            BOOT_IMAGE: image_id}, updates={"admin_pass": admin_pass})

    async def unrescue(self, caller: Caller, uuid: str) -> Instance:
        return await self.servers.act(caller, uuid, "unrescue")

    # --- the agents' outcomes ----------------------------------------------------------------
    async def complete(self, uuid: str, task: str, power_state: int | None,
                       updates: dict[str, Any] | None) -> bool:
        """A shelve task done (LocalLink.complete): what the server keeps, and what
        follows (an offload, the host's claim given back, the shelve image deleted)."""
        inst = await self.work.get(uuid)
        if inst is None or inst.task_state != task:
            return False
        args = dict(inst.task_args or {})
        extra: dict[str, Any] = {**(updates or {}), "task_args": kept(inst)}
        if task == states.SHELVING:
            extra["task_args"]["shelved_at"] = utcnow().isoformat()
        elif task == states.SHELVING_OFFLOADING:
            extra.update(host=None, node=None)
        elif task == states.UNSHELVING:
            extra["task_args"] = {}
        if not await self.work.complete(uuid, task, power_state, extra):
            return False
        if task == states.SHELVING and args.get(OFFLOAD):
            await self.start_offload(uuid)
        elif task == states.SHELVING_OFFLOADING:
            await self.servers.release(uuid)
        elif task == states.UNSHELVING:
            await self._delete_image(inst.project_id, args.get(IMAGE))
        return True

    async def start_offload(self, uuid: str) -> bool:
        """Offload a SHELVED server by itself (no new instance action, as Nova's)."""
        async with self.servers.write() as s:
            row = await s.get(Instance, uuid, with_for_update=True)
            if row is None or row.deleted or row.vm_state != states.SHELVED or \
                    row.task_state is not None:
                return False
            row.task_state = states.SHELVING_OFFLOADING
            row.task_args = {"prior_vm_state": row.vm_state, **kept(row)}
            row.updated_at = utcnow()
            host = row.host
        self.builder.links.wake(host)
        return True

    async def offload_due(self) -> int:
        """Reconcile: offload servers shelved longer than ``shelved_offload_time``."""
        if self.offload_time < 0:
            return 0
        cutoff = utcnow().timestamp() - self.offload_time
        async with self.builder.db.read() as s:
            rows = (await s.execute(select(Instance.uuid, Instance.updated_at).where(
                Instance.vm_state == states.SHELVED, Instance.task_state.is_(None),
                Instance.deleted.is_(False)))).all()
        due = [u for u, at in rows if at.timestamp() <= cutoff]
        for u in due:
            await self.start_offload(u)
        return len(due)

    async def _delete_image(self, project_id: str, image_id: str | None) -> None:
        if not image_id:
            return
        try:
            await self.image.images.delete(ImageCaller(project_id, True), image_id)
        except NotFound:
            pass
        except Exception:
            log.exception("shelve image %s could not be deleted", image_id)


def kept(inst: Instance) -> dict[str, Any]:
    """What a shelved server keeps between its tasks."""
    args = inst.task_args or {}
    return {k: args[k] for k in KEPT if k in args}


def _only(host: str, host_of: dict[str, str]) -> Any:
    def unshelve_filter(state: HostState) -> str | None:
        name = host_of.get(state.uuid, state.name)
        return None if name == host else f"not the requested host {host}"

    return unshelve_filter
