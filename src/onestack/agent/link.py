"""The compute agent's link to the control side: exactly the calls the agent makes.

Two implementations: ``LocalLink`` calls the in-process core (all-in-one, ``onestack up``);
``HttpLink`` (``agent/http_link.py``) calls the controller's internal agent API
(``/internal/agent/v1``), whose handlers call a ``LocalLink`` in turn, so both modes run
the same code on the control side. Values are plain dataclasses and dicts, never ORM rows.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from onestack.core.compute import live_migrate as live
from onestack.core.compute import shelve, states
from onestack.core.compute.base import HostLink, RemoteHost
from onestack.core.compute.service import Compute
from onestack.core.compute.volumes import VolumeDisk
from onestack.core.image.access import Caller as ImageCaller
from onestack.core.image.service import ImageService
from onestack.db.models.compute import Instance
from onestack.drivers.devices.base import Gpu, PciDevice
from onestack.drivers.virt.base import HostInfo, VirtError
from onestack.errors import Conflict, NotFound


@dataclass
class InstanceWork:
    """What the agent reads of one instance on its host."""

    uuid: str
    project_id: str
    host: str | None
    name: str
    hostname: str | None
    vm_state: str
    task_state: str | None
    power_state: int | None
    image_ref: str | None
    config_drive: str | None
    flavor: dict[str, Any] = field(default_factory=dict)
    new_flavor: dict[str, Any] | None = None
    task_args: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, inst: Instance) -> InstanceWork:
        return cls(uuid=inst.uuid, project_id=inst.project_id, host=inst.host,
                   name=inst.name, hostname=inst.hostname, vm_state=inst.vm_state,
                   task_state=inst.task_state, power_state=inst.power_state,
                   image_ref=boot_image(inst), config_drive=inst.config_drive,
                   flavor=dict(inst.flavor or {}),
                   new_flavor=dict(inst.new_flavor) if inst.new_flavor else None,
                   task_args=dict(inst.task_args or {}))


@dataclass
class KnownInstance:
    """Whether a guest found on the host still belongs there."""

    uuid: str
    host: str | None
    deleted: bool


def boot_image(inst: Instance) -> str:
    """The image the instance's disk is built from: its own, or the one its task names (an
    unshelve's shelve image, a rescue's image)."""
    return str((inst.task_args or {}).get(shelve.BOOT_IMAGE) or inst.image_ref or "")


def to_json(value: Any) -> Any:
    return dataclasses.asdict(value)


def device_from(data: dict[str, Any]) -> PciDevice:
    return Gpu(**data) if "model" in data else PciDevice(**data)


class AgentLink(abc.ABC):
    """The calls a compute agent makes; ``host`` is the one it acts for."""

    def attach(self, agent: HostLink) -> None:  # noqa: B027 - optional
        """The control side may reach the agent directly (wake, console): in-process only."""

    def detach(self, agent: HostLink) -> None:  # noqa: B027 - optional
        """Undo ``attach``."""

    # True when the agent must ask for work notifications (wait_for_work); an attached agent
    # is woken directly.
    polls_for_work = False

    async def wait_for_work(self, host: str, timeout: float) -> bool:
        """True when new work for the host was written within ``timeout`` seconds."""
        link = self._remote(host)
        if link is None:  # its agent runs in this process: woken directly, not by polls
            await asyncio.sleep(timeout)
            return False
        return await link.wait(timeout)

    def _remote(self, host: str) -> RemoteHost | None:
        return None

    def take_asks(self, host: str) -> list[dict[str, Any]]:
        """Questions for the host's agent (``{"id", "kind": "console", "uuid", "length"}``)
        that came with its last wake."""
        link = self._remote(host)
        return link.take_asks() if link is not None else []

    async def answer(self, host: str, uuid: str, ask_id: str, output: str | None,
                     error: str | None) -> None:
        """The agent's answer to one of them (``error``: why it has none)."""
        link = self._remote(host)
        if link is None or not link.answer(ask_id, output, error):
            raise Conflict(f"Nobody waits for answer {ask_id} any more.")

    @abc.abstractmethod
    async def register(self, info: HostInfo, devices: Sequence[PciDevice] = (),
                       host_ip: str = "127.0.0.1") -> None: ...

    @abc.abstractmethod
    async def heartbeat(self, host: str) -> None: ...

    @abc.abstractmethod
    async def schedule_pending(self, host: str, older_than: float) -> None: ...

    @abc.abstractmethod
    async def instances(self, host: str) -> list[InstanceWork]: ...

    @abc.abstractmethod
    async def known(self, host: str, uuids: list[str]) -> dict[str, KnownInstance]: ...

    @abc.abstractmethod
    async def observe(self, host: str, uuid: str, power_state: int) -> str | None: ...

    @abc.abstractmethod
    async def complete(self, host: str, uuid: str, task: str, power_state: int | None,
                       updates: dict[str, Any] | None) -> bool: ...

    @abc.abstractmethod
    async def fail(self, host: str, uuid: str, task: str, message: str) -> None: ...

    @abc.abstractmethod
    async def volume_disks(self, host: str, uuids: list[str]
                           ) -> dict[str, list[VolumeDisk]]: ...

    @abc.abstractmethod
    async def volume_done(self, host: str, uuid: str, disk: VolumeDisk, outcome: str
                          ) -> None:
        """``outcome``: attached, released, released-deleted or detach-failed."""

    @abc.abstractmethod
    async def prepare_boot_volumes(self, host: str, uuid: str) -> None: ...

    @abc.abstractmethod
    async def abort_boot_volumes(self, host: str, uuid: str, made: list[str]) -> None: ...

    @abc.abstractmethod
    async def assign_devices(self, host: str, uuid: str, count: int,
                             candidates: list[str]) -> list[str]: ...

    @abc.abstractmethod
    async def release_devices(self, host: str, uuid: str) -> None: ...

    @abc.abstractmethod
    async def nics(self, host: str, uuid: str) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    async def image_format(self, host: str, uuid: str) -> str:
        """The disk format of the image the instance boots from."""

    @abc.abstractmethod
    def image_data(self, host: str, uuid: str) -> AsyncIterator[bytes]:
        """The bytes of the image the instance boots from."""

    @abc.abstractmethod
    async def upload_migration_disk(self, host: str, uuid: str,
                                    chunks: AsyncIterator[bytes]) -> None:
        """A cold migration's source: the guest's flattened root disk."""

    @abc.abstractmethod
    def migration_disk(self, host: str, uuid: str) -> AsyncIterator[bytes]:
        """A cold migration's target: that disk, to start the guest from."""

    @abc.abstractmethod
    async def live_migration_step(self, host: str, uuid: str, step: str,
                                  dest: dict[str, Any] | None = None) -> None:
        """A live migration's step done: ``prepared`` (the target, with the addresses
        ``dest`` its guest waits on) or ``migrated`` (the source)."""

    @abc.abstractmethod
    async def upload_snapshot(self, host: str, uuid: str, chunks: AsyncIterator[bytes]
                              ) -> None:
        """The snapshot the instance's task asks for, as the data of its image."""

    @abc.abstractmethod
    async def config_drive(self, host: str, uuid: str) -> dict[str, bytes] | None: ...


SHELVE_TASKS = (states.SHELVING, states.SHELVING_OFFLOADING, states.UNSHELVING)
VOLUME_OUTCOMES = ("attached", "released", "released-deleted", "detach-failed")


class LocalLink(AgentLink):
    """The in-process core; also what the internal agent API calls for remote agents."""

    def __init__(self, compute: Compute, image: ImageService, metadata: Any = None) -> None:
        self.compute = compute
        self.image = image
        self.metadata = metadata

    def attach(self, agent: HostLink) -> None:
        host = str(getattr(agent, "host", ""))
        self.compute.links.hosts[host] = agent

    def detach(self, agent: HostLink) -> None:
        host = str(getattr(agent, "host", ""))
        if self.compute.links.hosts.get(host) is agent:
            del self.compute.links.hosts[host]

    def _remote(self, host: str) -> RemoteHost | None:
        return self.compute.links.remote(host)

    async def register(self, info: HostInfo, devices: Sequence[PciDevice] = (),
                       host_ip: str = "127.0.0.1") -> None:
        await self.compute.hosts.register(info, host_ip, devices)

    async def heartbeat(self, host: str) -> None:
        await self.compute.hosts.heartbeat(host)

    async def schedule_pending(self, host: str, older_than: float) -> None:
        del host
        await self.compute.builder.schedule_pending(older_than=older_than)
        await self.compute.shelving.offload_due()

    async def instances(self, host: str) -> list[InstanceWork]:
        """The host's instances, and those being live-migrated to it (their ``host`` is
        still the source)."""
        rows = await self.compute.work.instances(host)
        rows += await self.compute.migrations.incoming(host)
        return [InstanceWork.of(i) for i in rows]

    async def known(self, host: str, uuids: list[str]) -> dict[str, KnownInstance]:
        del host
        rows = await self.compute.work.known(uuids)
        return {u: KnownInstance(u, r.host, bool(r.deleted)) for u, r in rows.items()}

    async def observe(self, host: str, uuid: str, power_state: int) -> str | None:
        return await self.compute.work.observe(uuid, power_state)

    async def complete(self, host: str, uuid: str, task: str, power_state: int | None,
                       updates: dict[str, Any] | None) -> bool:
        if task == states.MIGRATING:
            inst = await self.compute.work.get(uuid)
            if inst is None or inst.host != host or \
                    inst.task_args.get(live.STEP) != live.FINISH:
                return False
            updates = None
        if task == states.RESIZE_MIGRATING:
            return await self.compute.migrations.arrive(uuid)
        if task in SHELVE_TASKS:
            return await self.compute.shelving.complete(uuid, task, power_state, updates)
        done = await self.compute.work.complete(uuid, task, power_state, updates)
        if done and task in (states.RESIZE_FINISH, states.DELETING):
            await self.compute.migration_verify.settled(uuid)  # the staged disk
        return done

    async def fail(self, host: str, uuid: str, task: str, message: str) -> None:
        if task == states.MIGRATING:
            await self.compute.migrations.fail(host, uuid, message)
            return
        if task == states.RESIZE_MIGRATING:
            await self.compute.migrations.abort(uuid)
        if task == states.RESIZE_FINISH and \
                await self.compute.migrations.rollback(host, uuid, message):
            return
        await self.compute.work.fail(uuid, task, message)

    async def upload_migration_disk(self, host: str, uuid: str,
                                    chunks: AsyncIterator[bytes]) -> None:
        await self.compute.migrations.store_disk(host, uuid, chunks)

    async def migration_disk(self, host: str, uuid: str) -> AsyncIterator[bytes]:
        async for chunk in self.compute.migrations.read_disk(host, uuid):
            yield chunk

    async def live_migration_step(self, host: str, uuid: str, step: str,
                                  dest: dict[str, Any] | None = None) -> None:
        if step == "prepared":
            await self.compute.migrations.prepared(host, uuid, dict(dest or {}))
        elif step == "migrated":
            await self.compute.migrations.migrated(host, uuid)
        else:
            raise Conflict(f"Unknown live migration step {step!r}.")

    async def volume_disks(self, host: str, uuids: list[str]
                           ) -> dict[str, list[VolumeDisk]]:
        if self.compute.volumes is None or not uuids:
            return {}
        return await self.compute.volumes.disks(uuids)

    async def volume_done(self, host: str, uuid: str, disk: VolumeDisk, outcome: str
                          ) -> None:
        vs = self.compute.volumes
        if vs is None:
            raise Conflict("Block storage is not served here.")
        if outcome == "attached":
            await vs.finish_attach(disk)
        elif outcome in ("released", "released-deleted"):
            await vs.release(disk, delete_volume=outcome == "released-deleted")
        elif outcome == "detach-failed":
            await vs.detach_failed(disk)
        else:
            raise Conflict(f"Unknown volume outcome {outcome!r}.")

    async def prepare_boot_volumes(self, host: str, uuid: str) -> None:
        boot = self.compute.boot_volumes
        inst = await self.compute.work.get(uuid)
        if boot is not None and inst is not None:
            await boot.prepare(inst, host)

    async def abort_boot_volumes(self, host: str, uuid: str, made: list[str]) -> None:
        boot = self.compute.boot_volumes
        inst = await self.compute.work.get(uuid)
        if boot is not None and inst is not None:
            await boot.abort(uuid, inst.project_id, made)

    async def assign_devices(self, host: str, uuid: str, count: int,
                             candidates: list[str]) -> list[str]:
        return await self.compute.devices.assign(uuid, host, count, candidates)

    async def release_devices(self, host: str, uuid: str) -> None:
        await self.compute.devices.release(uuid)

    async def nics(self, host: str, uuid: str) -> list[dict[str, Any]]:
        return await self.compute.ports.nics_for(uuid)

    async def _boot_image(self, uuid: str) -> tuple[ImageCaller, str]:
        inst = await self.compute.work.get(uuid)
        if inst is None or not boot_image(inst):
            raise VirtError("the server has no image to boot from and no root volume")
        return ImageCaller(inst.project_id, is_admin=True), boot_image(inst)

    async def image_format(self, host: str, uuid: str) -> str:
        caller, image_id = await self._boot_image(uuid)
        rec = await self.image.images.get(caller, image_id)
        return str(rec.image.disk_format or "raw")

    async def image_data(self, host: str, uuid: str) -> AsyncIterator[bytes]:
        caller, image_id = await self._boot_image(uuid)
        download = await self.image.data.download(caller, image_id)
        if download is None:
            raise VirtError(f"image {image_id} has no data (status is not active)")
        async for chunk in self.image.data.stream(download.key):
            yield chunk

    async def upload_snapshot(self, host: str, uuid: str, chunks: AsyncIterator[bytes]
                              ) -> None:
        inst = await self.compute.work.get(uuid)
        if inst is None or inst.task_state not in (states.IMAGE_SNAPSHOT, states.SHELVING):
            raise Conflict(f"Instance {uuid} is not being snapshotted.")
        caller = ImageCaller(inst.project_id, is_admin=True)
        await self.image.data.upload(caller, str(inst.task_args["image_id"]), chunks)
        if "rotation" in inst.task_args:  # a createBackup: its oldest backups go
            await self.compute.actions.rotate_backups(
                inst, str(inst.task_args["backup_type"]), int(inst.task_args["rotation"]))

    async def config_drive(self, host: str, uuid: str) -> dict[str, bytes] | None:
        if self.metadata is None:
            raise NotFound("No metadata service here.")
        files: dict[str, bytes] | None = await self.metadata.config_drive(uuid)
        return files
