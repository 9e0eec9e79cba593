"""Server create: check the request (flavor, image, key pair, zone, group, quotas), write the
instances in BUILD, then schedule each one onto a host and claim its resources.

Scheduling uses the placement model (``select_hosts``, per-host reasons) and claims the
instance's allocations atomically; a host that lost the race is skipped for the next one.
When no host fits, the instance goes to ERROR with a fault that says why, host by host.
"""

from __future__ import annotations

import logging
import math
import secrets
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from onestack.core.compute import bdm, events, groups, states
from onestack.core.compute.aggregates import Aggregates
from onestack.core.compute.base import DEFAULT_AZ, Caller, Links, Store
from onestack.core.compute.devices import (
    check_flavor_request,
    flavor_resources,
    flavor_traits,
)
from onestack.core.compute.flavors import FlavorRecord, Flavors
from onestack.core.compute.hosts import Hosts
from onestack.core.compute.ports import NetworkPlan, Ports
from onestack.core.compute.quotas import Quotas
from onestack.core.compute.servers import mark_deleted
from onestack.core.image.access import Caller as ImageCaller
from onestack.core.image.service import ImageService
from onestack.db.engine import Database
from onestack.db.models.base import utcnow
from onestack.db.models.compute import (
    Instance,
    InstanceTag,
    KeyPair,
    ServerGroupMember,
)
from onestack.errors import BadRequest, Conflict, NotFound
from onestack.scheduler.allocations import UNCHECKED, Claim
from onestack.scheduler.errors import CapacityExceeded, ConcurrentUpdate, NoValidHost
from onestack.scheduler.hosts import HostFilter, HostRequest, HostState
from onestack.scheduler.service import Placement

if TYPE_CHECKING:
    from onestack.core.compute.boot_volumes import BootVolumes

log = logging.getLogger(__name__)
RETRIES = 5


@dataclass
class BuildRequest:
    name: str
    flavor_ref: str
    image_ref: str = ""
    key_name: str | None = None
    user_data: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    config_drive: bool = False
    availability_zone: str | None = None
    min_count: int = 1
    max_count: int = 1
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    networks: Any = "auto"  # "none" | "auto" | list of {uuid, port, fixed_ip, tag}
    security_groups: list[str] | None = None  # names or ids; None: the project's default
    disk_config: str = "MANUAL"
    admin_pass: str | None = None
    access_ip_v4: str | None = None
    access_ip_v6: str | None = None
    group: str | None = None  # scheduler_hints.group
    hostname: str | None = None
    block_devices: list[Any] = field(default_factory=list)  # block_device_mapping_v2


def resources(flavor: dict[str, Any], volume_backed: bool = False) -> dict[str, int]:
    """What an instance of this flavor asks of placement (zero amounts left out); the root
    disk of a volume-backed server is its volume, not the host's disk."""
    root = 0 if volume_backed else flavor["root_gb"]
    disk = root + flavor["ephemeral_gb"] + math.ceil(flavor["swap"] / 1024)
    wanted = {"VCPU": flavor["vcpus"], "MEMORY_MB": flavor["memory_mb"], "DISK_GB": disk}
    return flavor_resources(flavor, wanted)  # with its resources: extra specs


def hostname_for(name: str) -> str:
    """Nova's sanitised hostname: lower case, [a-z0-9-], at most 63 characters."""
    out = "".join(c if c.isalnum() or c == "-" else "-" for c in name.lower().replace(" ", "-"))
    out = out.encode("ascii", "ignore").decode().strip("-.")[:63]
    return out or "server"


class Builder(Store):
    def __init__(self, db: Database, placement: Placement, hosts: Hosts, flavors: Flavors,
                 groups_: groups.ServerGroups, image: ImageService, links: Links,
                 ports: Ports) -> None:
        super().__init__(db)
        self.ports = ports
        self.placement = placement
        self.hosts = hosts
        self.aggregates = Aggregates(db)  # zones and aggregate metadata for the filters
        self.flavors = flavors
        self.groups = groups_
        self.image = image
        self.links = links
        self.boot_volumes: BootVolumes | None = None  # set with the block storage core

    async def _flavor(self, caller: Caller, ref: str) -> FlavorRecord:
        ref = ref.rstrip("/").rsplit("/", 1)[-1]
        try:
            return await self.flavors.get(caller, ref)
        except NotFound as exc:
            raise BadRequest(f"Flavor {ref} could not be found.") from exc

    async def check_image(self, caller: Caller, ref: str, flavor: dict[str, Any]) -> str:
        image_id = ref.rstrip("/").rsplit("/", 1)[-1]
        try:
            rec = await self.image.images.get(ImageCaller(caller.project_id, caller.is_admin),
                                              image_id)
        except NotFound as exc:
            raise BadRequest(f"Image {image_id} could not be found.") from exc
        img = rec.image
        if img.status != "active":
            raise BadRequest(f"Image {image_id} is not active.")
        if img.min_ram and flavor["memory_mb"] < img.min_ram:
            raise BadRequest("Flavor's memory is too small for requested image.")
        if flavor["root_gb"]:
            if img.min_disk and flavor["root_gb"] < img.min_disk:
                raise BadRequest("Flavor's disk is too small for requested image.")
            needed = img.virtual_size or img.size or 0
            if needed > flavor["root_gb"] * 1024**3:
                raise BadRequest("Flavor's disk is too small for requested image.")
        return image_id

    async def create(self, caller: Caller, req: BuildRequest) -> list[Instance]:
        flavor_rec = await self._flavor(caller, req.flavor_ref)
        if flavor_rec.flavor.disabled:
            raise BadRequest(f"Flavor {flavor_rec.flavor.id} is disabled.")
        flavor = flavor_rec.snapshot()
        check_flavor_request(flavor)
        plan = bdm.plan(req.block_devices, req.image_ref, req.max_count)
        if plan.volumes and self.boot_volumes is None:
            raise BadRequest("Block device mappings to volumes need the block storage "
                             "service, which this cloud does not run.")
        image_id = ""
        if plan.image_ref:
            image_id = await self.check_image(caller, plan.image_ref, flavor)
        if plan.volumes and self.boot_volumes is not None:
            await self.boot_volumes.check(caller, plan, flavor)
        if req.availability_zone not in (None, "", DEFAULT_AZ):
            await self.aggregates.check_zone(req.availability_zone, caller.is_admin)
        nets = await self.ports.plan(caller, req.networks, req.max_count, req.security_groups)
        for attempt in range(RETRIES):
            try:
                made = await self._write(caller, req, flavor, image_id, nets)
                break
            except Conflict as exc:  # an address or port taken meanwhile (PostgreSQL)
                if not isinstance(exc.__cause__, IntegrityError) or attempt == RETRIES - 1:
                    raise
        if nets.nics:
            self.ports.changed()
        if plan.volumes and self.boot_volumes is not None:
            try:
                await self.boot_volumes.setup(caller, made, plan, flavor, req.config_drive)
            except BaseException:
                await self._undo(made)
                raise
        for inst in made:
            await self.schedule(inst.uuid)
        return made

    async def _undo(self, made: list[Instance]) -> None:
        """Instances written by a create that failed afterwards: gone, ports given back."""
        async with self.write() as s:
            for inst in made:
                row = await s.get(Instance, inst.uuid)
                if row is not None:
                    await mark_deleted(s, row)
        self.ports.changed()

    async def _write(self, caller: Caller, req: BuildRequest, flavor: dict[str, Any],
                     image_id: str, plan: NetworkPlan) -> list[Instance]:
        """The instances in BUILD and their ports, in one transaction."""
        reservation = f"r-{secrets.token_hex(4)}"
        made: list[Instance] = []
        async with self.write() as s:
            key_data = None
            if req.key_name is not None:
                key = await s.scalar(select(KeyPair).where(KeyPair.user_id == caller.user_id,
                                                           KeyPair.name == req.key_name))
                if key is None:
                    raise BadRequest("Invalid key_name provided.")
                key_data = key.public_key
            limits = await Quotas._limits(s, caller.project_id)
            Quotas.check_metadata(limits, len(req.metadata))
            count = await Quotas.instances_allowed(s, caller.project_id, flavor["vcpus"],
                                                   flavor["memory_mb"], req.min_count,
                                                   req.max_count)
            if req.group is not None:
                await self.groups.check_member_quota(s, caller, req.group, count)
            now = utcnow()
            for index in range(count):
                name = req.name if count == 1 else f"{req.name}-{index + 1}"
                inst = Instance(
                    uuid=str(uuid.uuid4()), project_id=caller.project_id,
                    user_id=caller.user_id, name=name,
                    hostname=req.hostname or hostname_for(name), description=req.description,
                    availability_zone=req.availability_zone or None,
                    flavor_id=flavor["id"], flavor=flavor, vcpus=flavor["vcpus"],
                    memory_mb=flavor["memory_mb"], image_ref=image_id, key_name=req.key_name,
                    key_data=key_data, user_data=req.user_data,
                    config_drive="True" if req.config_drive else "",
                    disk_config=req.disk_config, metadata_=dict(req.metadata),
                    vm_state=states.BUILDING, task_state=states.SCHEDULING,
                    power_state=states.NOSTATE, task_args={}, locked=False,
                    access_ip_v4=req.access_ip_v4, access_ip_v6=req.access_ip_v6,
                    reservation_id=reservation, launch_index=index,
                    admin_pass=req.admin_pass, created_at=now, updated_at=now, deleted=False)
                s.add(inst)
                await s.flush()
                s.add_all(InstanceTag(instance_uuid=inst.uuid, tag=t)
                          for t in dict.fromkeys(req.tags))
                if req.group is not None:
                    s.add(ServerGroupMember(group_uuid=req.group, instance_uuid=inst.uuid))
                await events.start(s, inst, "create", caller)
                await self.ports.attach_in(s, caller, inst.uuid, inst.availability_zone, plan)
                made.append(inst)
        return made

    # --- scheduling --------------------------------------------------------------------
    async def schedule(self, uuid_: str) -> None:
        """Find a host for an instance in BUILD/scheduling and claim its resources there."""
        async with self.db.read() as s:
            inst = await s.get(Instance, uuid_)
            if inst is None or inst.deleted or inst.task_state != states.SCHEDULING:
                return
            group_uuid = await s.scalar(select(ServerGroupMember.group_uuid).where(
                ServerGroupMember.instance_uuid == uuid_))
            group = await groups.placement_of(s, group_uuid) if group_uuid else None
        try:
            host, rp_uuid = await self._claim(inst, group)
        except NoValidHost as exc:
            await self._no_host(uuid_, str(exc))
            return
        async with self.write() as s:
            row = await s.get(Instance, uuid_)
            if row is None or row.task_state != states.SCHEDULING:
                return
            node = await self.hosts.by_provider(rp_uuid)
            row.host = host
            row.node = node.hypervisor_hostname if node else host
            row.availability_zone = node.availability_zone if node else DEFAULT_AZ
            row.task_state = states.SPAWNING
            row.updated_at = utcnow()
            await self.ports.bind_in(s, uuid_, host, row.availability_zone)
        self.ports.changed()
        self.links.wake(host)

    async def _claim(self, inst: Instance, group: groups.Placement | None,
                     extra: dict[str, HostFilter] | None = None, moving: bool = False
                     ) -> tuple[str, str]:
        """Pick a host and claim there: ``extra`` filters narrow the hosts (evacuate: not
        the source); ``moving``: the instance holds allocations already, which the claim
        replaces (else a claim already made is kept, for a retried schedule)."""
        enabled = await self.hosts.enabled_hosts()  # provider uuid -> host name
        node_host = enabled

        def service_up(state: HostState) -> str | None:
            return None if state.uuid in enabled else "the compute service is disabled or down"

        filters: dict[str, HostFilter] = {"ComputeFilter": service_up}
        weigher = "spread"
        if group is not None and group.policy in ("affinity", "anti-affinity"):
            hard = group

            def group_filter(state: HostState) -> str | None:
                here = hard.hosts.get(node_host.get(state.uuid, ""), 0)
                if hard.policy == "affinity" and hard.hosts and here == 0:
                    return "the server group's members run on another host (affinity)"
                if hard.policy == "anti-affinity" and here >= hard.max_per_host:
                    return "a member of the server group runs here already (anti-affinity)"
                return None

            filters["ServerGroupFilter"] = group_filter
        filters.update(await self.aggregates.filters(
            None if moving else inst.availability_zone, inst.flavor.get("extra_specs") or {},
            lambda state: node_host.get(state.uuid, state.name)))
        filters.update(extra or {})
        request = HostRequest(resources=resources(inst.flavor, not inst.image_ref),
                              filters=filters,
                              weigher=weigher)
        request.required_traits, request.forbidden_traits = flavor_traits(inst.flavor)
        selection = await self.placement.select_hosts(request)
        ranked = selection.hosts
        if group is not None and group.policy.startswith("soft-"):
            sign = -1 if group.policy == "soft-affinity" else 1
            ranked = sorted(ranked, key=lambda h: sign * group.hosts.get(
                node_host.get(h.uuid, ""), 0))
        reasons: dict[str, str] = dict(selection.rejected)
        for host in ranked:
            try:
                await self.placement.allocations.claim([Claim(
                    inst.uuid, host.allocations, inst.project_id, inst.user_id,
                    UNCHECKED if moving else None)])
            except CapacityExceeded as exc:
                reasons[host.name] = exc.message
                continue
            except ConcurrentUpdate:
                pass  # claimed already (a retried schedule): keep that claim
            return node_host.get(host.uuid, host.name), host.uuid
        wanted = ", ".join(f"{rc}={n}" for rc, n in sorted(request.resources.items()))
        detail = "; ".join(f"{n}: {r}" for n, r in sorted(reasons.items()))
        raise NoValidHost(f"No valid host was found for {wanted}. {detail}.", reasons)

    async def _no_host(self, uuid_: str, message: str) -> None:
        log.info("instance %s: %s", uuid_, message)
        async with self.write() as s:
            row = await s.get(Instance, uuid_)
            if row is None or row.task_state != states.SCHEDULING:
                return
            row.vm_state, row.task_state = states.ERROR, None
            await self.ports.release_in(s, uuid_)
            row.fault = {"code": 500, "message": message[:255], "details": message,
                         "created": utcnow().isoformat()}
            row.updated_at = utcnow()
            await events.finish(s, uuid_, message)
        if self.boot_volumes is not None:  # the volumes given at create go back
            self.boot_volumes.abort_later(row)

    async def schedule_pending(self, older_than: float) -> int:
        """Reconcile: schedule instances whose scheduling was lost (a crash mid-request)."""
        cutoff = utcnow().timestamp() - older_than
        async with self.db.read() as s:
            rows = (await s.execute(select(Instance.uuid, Instance.updated_at).where(
                Instance.task_state == states.SCHEDULING, Instance.deleted.is_(False)))).all()
        stale = [u for u, at in rows if at.timestamp() < cutoff]
        for u in stale:
            await self.schedule(u)
        return len(stale)
