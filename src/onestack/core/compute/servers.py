"""Servers: show, list, update, delete, tags, metadata, and the state-changing actions.

Every action checks ``states.check`` (the one table), writes the task it asks for and an
instance action record in one transaction, and wakes the host's agent, which does the work
and writes back what it observed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import BindParameter, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.compute import events, listing, migration_records, ports, states
from onestack.core.compute.base import Caller, Links, Store
from onestack.core.compute.hosts import SERVICE_DOWN_AFTER, host_status
from onestack.core.compute.quotas import Quotas
from onestack.db.engine import Database
from onestack.db.models.base import utcnow
from onestack.db.models.compute import (
    BlockDeviceMapping,
    ComputeNode,
    Instance,
    InstanceTag,
    ServerGroupMember,
)
from onestack.errors import BadRequest, Conflict, NotFound
from onestack.scheduler.allocations import Claim
from onestack.scheduler.service import Placement

if TYPE_CHECKING:
    from onestack.core.compute.boot_volumes import BootVolumes

MAX_TAGS = 50


@dataclass
class ServerRecord:
    instance: Instance
    tags: list[str] = field(default_factory=list)
    addresses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)
    security_groups: list[str] = field(default_factory=list)  # names, from the ports
    volumes: list[tuple[str, bool]] = field(default_factory=list)  # (id, delete_on_term.)
    host_status: str = ""  # UP, DOWN, MAINTENANCE, UNKNOWN or "" (no host)


def not_found(uuid: str) -> NotFound:
    return NotFound(f"Instance {uuid} could not be found.")


# What a page's records read beyond the instances' own columns, one statement per kind with
# the page's ids as one expanding parameter (built once: ``in_`` over 1,000 ids is not free)
_IDS: BindParameter[Any] = bindparam("ids", expanding=True)
_TAGS = select(InstanceTag.instance_uuid, InstanceTag.tag).where(
    InstanceTag.instance_uuid.in_(_IDS)).order_by(InstanceTag.tag)
_MEMBERS = select(ServerGroupMember.instance_uuid, ServerGroupMember.group_uuid).where(
    ServerGroupMember.instance_uuid.in_(_IDS))
_VOLUMES = select(BlockDeviceMapping.instance_uuid, BlockDeviceMapping.volume_id,
                  BlockDeviceMapping.delete_on_termination).where(
    BlockDeviceMapping.instance_uuid.in_(_IDS)).order_by(BlockDeviceMapping.created_at)
_NODES = select(ComputeNode.host, ComputeNode.forced_down, ComputeNode.disabled,
                ComputeNode.heartbeat).where(ComputeNode.host.in_(_IDS))


async def records(s: AsyncSession, rows: list[Instance],
                  addrs: dict[str, dict[str, list[dict[str, Any]]]] | None = None,
                  down_after: float = SERVICE_DOWN_AFTER) -> list[ServerRecord]:
    """Records of instances (ORM objects, or listing rows): what their bodies show beyond
    the instance's own columns, one query per kind for the whole page, columns only."""
    ids = [r.uuid for r in rows]
    if addrs is None:
        addrs = await ports.addresses(s, ids)
    sgs = await ports.group_names(s, ids)
    tags: dict[str, list[str]] = defaultdict(list)
    members: dict[str, list[str]] = defaultdict(list)
    volumes: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    if ids:
        for uuid, tag in await s.execute(_TAGS, {"ids": ids}):
            tags[uuid].append(tag)
        for uuid, group in await s.execute(_MEMBERS, {"ids": ids}):
            members[uuid].append(group)
        for uuid, volume, on_delete in await s.execute(_VOLUMES, {"ids": ids}):
            volumes[uuid].append((volume, on_delete))
    hosts = list({r.host for r in rows if r.host})
    status: dict[str | None, str] = {None: ""}
    if hosts:
        now = utcnow()
        for node in await s.execute(_NODES, {"ids": hosts}):
            status[node.host] = host_status(node, down_after, now)
    return [ServerRecord(r, tags.get(r.uuid) or [], addrs.get(r.uuid, {}),
                         members.get(r.uuid) or [], sgs.get(r.uuid) or [],
                         volumes.get(r.uuid) or [], status.get(r.host, ""))
            for r in rows]


class Servers(Store):
    def __init__(self, db: Database, placement: Placement, links: Links) -> None:
        super().__init__(db)
        self.placement = placement
        self.links = links
        self.boot_volumes: BootVolumes | None = None  # set with the block storage core
        self.down_after = SERVICE_DOWN_AFTER  # [compute] service_down_after

    async def instance(self, s: AsyncSession, caller: Caller, uuid: str,
                       *, lock: bool = False) -> Instance:
        q = select(Instance).where(Instance.uuid == uuid)
        if lock:
            q = q.with_for_update()
        row = await s.scalar(q)
        if row is None or row.deleted or (row.project_id != caller.project_id and
                                          not caller.is_admin):
            raise not_found(uuid)
        return row

    async def get(self, caller: Caller, uuid: str) -> ServerRecord:
        async with self.db.read() as s:
            return (await records(s, [await self.instance(s, caller, uuid)],
                                  down_after=self.down_after))[0]

    async def listing(self, caller: Caller, q: listing.ServerQuery
                      ) -> tuple[list[ServerRecord], bool]:
        """One page and whether more follow."""
        name_re = listing.compile_regex(q.name, "name") if q.name is not None else None
        stmt = listing.statement(caller, q)
        async with self.db.read() as s:
            # rows of listing.LISTED: the attributes of an Instance that listings show
            rows: list[Any] = list((await s.execute(stmt)).all())
            addrs = None
            if q.ip is not None or q.ip6 is not None:
                addrs = await ports.addresses(s, [r.uuid for r in rows])
            rows = [r for r in rows if listing.keep(r, q, name_re, [
                a["addr"] for items in (addrs or {}).get(r.uuid, {}).values() for a in items])]
            if q.marker is not None:
                ids = [r.uuid for r in rows]
                if q.marker not in ids:
                    raise BadRequest(f"marker [{q.marker}] not found")
                rows = rows[ids.index(q.marker) + 1:]
            more = q.limit is not None and len(rows) > q.limit
            if q.limit is not None:
                rows = rows[:q.limit]
            return await records(s, rows, addrs, self.down_after), more

    async def update(self, caller: Caller, uuid: str, changes: dict[str, Any]
                     ) -> ServerRecord:
        async with self.write() as s:
            inst = await self.instance(s, caller, uuid, lock=True)
            states.check("update", inst, is_admin=caller.is_admin)
            for key, value in changes.items():
                setattr(inst, key, value)
            inst.updated_at = utcnow()
            return (await records(s, [inst], down_after=self.down_after))[0]

    # --- delete ----------------------------------------------------------------------------
    async def delete(self, caller: Caller, uuid: str, force: bool = False) -> None:
        async with self.write() as s:
            inst = await self.instance(s, caller, uuid, lock=True)
            states.check("forceDelete" if force else "delete", inst, is_admin=caller.is_admin)
            await events.start(s, inst, "delete", caller, inst.host)
            host = inst.host
            made = list((inst.task_args or {}).get("made_volumes") or [])
            project = inst.project_id
            if host is None:  # never reached a host: nothing to undo there
                await mark_deleted(s, inst)
            else:
                inst.task_state = states.DELETING
                inst.updated_at = utcnow()
        if host is None:
            await self.release(uuid)
            if self.boot_volumes is not None:  # volumes given at create, never attached
                self.boot_volumes.later(self.boot_volumes.abort(uuid, project, made))
        else:
            self.links.wake(host)

    async def release(self, uuid: str) -> None:
        await self.placement.allocations.claim([Claim(uuid, {})])

    # --- actions -------------------------------------------------------------------------
    async def act(self, caller: Caller, uuid: str, action: str, *, name: str | None = None,
                  args: dict[str, Any] | None = None, updates: dict[str, Any] | None = None
                  ) -> Instance:
        """Check the state table, set the task (and ``updates``), record the action."""
        async with self.write() as s:
            inst = await self.instance(s, caller, uuid, lock=True)
            rule = states.check(action, inst, is_admin=caller.is_admin)
            if rule.task is not None and inst.host is None:
                raise Conflict(f"Cannot '{action}' instance {uuid}: it is not on a host.")
            for key, value in (updates or {}).items():
                setattr(inst, key, value)
            if rule.task is not None:
                inst.task_state = rule.task
                inst.task_args = {"prior_vm_state": inst.vm_state, **(args or {})}
            inst.updated_at = utcnow()
            await events.start(s, inst, name or action, caller, inst.host)
            if action == "resize" and inst.new_flavor:  # on its own host here
                await migration_records.record(s, inst, caller, "resize", "migrating",
                                               inst.host, inst.host, inst.node,
                                               new_flavor=str(inst.new_flavor["id"]))
        self.links.wake(inst.host)
        return inst

    async def reset_state(self, caller: Caller, uuid: str, vm_state: str) -> None:
        """Admin: force the vm_state (``active`` or ``error``) and clear the task, as Nova's
        os-resetState; the guest is left as it is."""
        async with self.write() as s:
            inst = await self.instance(s, caller, uuid, lock=True)
            inst.vm_state, inst.task_state, inst.task_args = vm_state, None, {}
            inst.updated_at = utcnow()

    async def set_lock(self, caller: Caller, uuid: str, locked: bool,
                       reason: str | None = None) -> None:
        async with self.write() as s:
            inst = await self.instance(s, caller, uuid, lock=True)
            if not locked and inst.locked and inst.locked_by == "admin" and \
                    not caller.is_admin:
                raise Conflict(f"Instance {uuid} was locked by an administrator and only an "
                               "administrator may unlock it.")
            inst.locked = locked
            inst.locked_by = ("admin" if caller.is_admin else "owner") if locked else None
            inst.locked_reason = reason if locked else None
            inst.updated_at = utcnow()
            await events.start(s, inst, "lock" if locked else "unlock", caller, inst.host)

    async def console_output(self, caller: Caller, uuid: str, length: int | None) -> str:
        async with self.db.read() as s:
            inst = await self.instance(s, caller, uuid)
            states.check("getConsoleOutput", inst, is_admin=caller.is_admin)
        # an agent elsewhere is asked through its work poll
        link = self.links.get(inst.host) or (self.links.remote(inst.host) if inst.host
                                             else None)
        if link is None:
            raise Conflict(f"Instance {uuid} is on no host: it has no console yet.")
        return await link.console_output(uuid, length)

    # --- tags ----------------------------------------------------------------------------
    async def set_tags(self, caller: Caller, uuid: str, tags: list[str]) -> list[str]:
        tags = list(dict.fromkeys(tags))
        if len(tags) > MAX_TAGS:
            raise BadRequest(f"The number of tags exceeded the per-server limit {MAX_TAGS}")
        async with self.write() as s:
            inst = await self.instance(s, caller, uuid, lock=True)
            states.check("tags", inst, is_admin=caller.is_admin)
            await s.execute(delete(InstanceTag).where(InstanceTag.instance_uuid == uuid))
            s.add_all(InstanceTag(instance_uuid=uuid, tag=t) for t in tags)
            inst.updated_at = utcnow()
        return sorted(tags)

    async def add_tag(self, caller: Caller, uuid: str, tag: str) -> bool:
        """True when the tag is new."""
        async with self.write() as s:
            inst = await self.instance(s, caller, uuid, lock=True)
            if await s.get(InstanceTag, (uuid, tag)) is not None:
                return False
            have = len((await s.execute(select(InstanceTag.tag).where(
                InstanceTag.instance_uuid == uuid))).all())
            if have >= MAX_TAGS:
                raise BadRequest(f"The number of tags exceeded the per-server limit "
                                 f"{MAX_TAGS}")
            s.add(InstanceTag(instance_uuid=uuid, tag=tag))
            inst.updated_at = utcnow()
            return True

    async def remove_tag(self, caller: Caller, uuid: str, tag: str | None) -> None:
        async with self.write() as s:
            inst = await self.instance(s, caller, uuid, lock=True)
            q = delete(InstanceTag).where(InstanceTag.instance_uuid == uuid)
            if tag is not None:
                if await s.get(InstanceTag, (uuid, tag)) is None:
                    raise NotFound(f"Tag {tag} could not be found for instance {uuid}.")
                q = q.where(InstanceTag.tag == tag)
            await s.execute(q)
            inst.updated_at = utcnow()

    # --- metadata ------------------------------------------------------------------------
    async def set_metadata(self, caller: Caller, uuid: str, items: dict[str, str],
                           replace: bool) -> dict[str, str]:
        async with self.write() as s:
            inst = await self.instance(s, caller, uuid, lock=True)
            states.check("metadata", inst, is_admin=caller.is_admin)
            merged = dict(items) if replace else {**inst.metadata_, **items}
            Quotas.check_metadata(await Quotas._limits(s, inst.project_id), len(merged))
            inst.metadata_ = merged
            inst.updated_at = utcnow()
            return dict(merged)

    async def delete_metadata(self, caller: Caller, uuid: str, key: str) -> None:
        async with self.write() as s:
            inst = await self.instance(s, caller, uuid, lock=True)
            states.check("metadata", inst, is_admin=caller.is_admin)
            if key not in inst.metadata_:
                raise NotFound(f"Metadata item was not found: {key}")
            inst.metadata_ = {k: v for k, v in inst.metadata_.items() if k != key}
            inst.updated_at = utcnow()


async def mark_deleted(s: AsyncSession, inst: Instance) -> None:
    now = utcnow()
    inst.vm_state, inst.task_state, inst.power_state = states.DELETED, None, states.NOSTATE
    inst.deleted, inst.deleted_at, inst.terminated_at, inst.updated_at = True, now, now, now
    await s.execute(delete(ServerGroupMember).where(ServerGroupMember.instance_uuid ==
                                                    inst.uuid))
    await ports.Ports.release_in(s, inst.uuid)
    await events.finish(s, inst.uuid)
