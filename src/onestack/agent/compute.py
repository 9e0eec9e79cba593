"""The compute agent of one host: converges the host's guests to what the database declares.

It registers the host (service, hypervisor, resource provider), then runs a reconcile pass
when woken (new work) and every ``reconcile_interval`` seconds:
- every instance on the host whose ``task_state`` names agent work gets that work done
  (build, delete, power actions, rebuild, resize, snapshot) and its outcome written back;
- between tasks, what the driver reports is compared with what should be: a guest that died
  makes its server SHUTOFF (power_state 4); guests no live instance owns are destroyed;
- instances whose scheduling was lost (a crash mid-request) are scheduled again.
After a restart, running guests are adopted (``list_guests``) rather than started again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import socket
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from onestack.agent import migration, questions, shelving
from onestack.agent.guest_disks import CephClient, GuestDisks, disk_specs, volume_disk
from onestack.agent.link import AgentLink, InstanceWork
from onestack.agent.reconcile import ReconcileLoop
from onestack.core.compute import devices as host_devices
from onestack.core.compute import states
from onestack.core.compute.boot_volumes import BuildFailed
from onestack.core.compute.volumes import ATTACHED, ATTACHING, DETACHING, VolumeDisk
from onestack.drivers.devices.base import DeviceDiscovery, Gpu
from onestack.drivers.virt.base import (
    DiskSpec,
    GuestInfo,
    GuestNotFound,
    GuestSpec,
    NicSpec,
    PowerState,
    VirtDriver,
    VirtError,
)
from onestack.drivers.virt.disks import DiskBuilder
from onestack.errors import Conflict

log = logging.getLogger(__name__)
POWER_OFF_TIMEOUT = 60.0
WORK_WAIT = 25.0  # seconds one long poll for work notifications is held (remote agents)
DETACH_TIMEOUT = 60.0


def make_driver(name: str, instances_path: Path) -> VirtDriver:
    """The virt driver named by ``[compute] virt_driver`` (from DRIVERS)."""
    from onestack.drivers.virt import DRIVERS

    cls = DRIVERS.get(name)
    if cls is None:
        fallback = "fake"
        log.warning("virt driver %r is not available (known: %s); using %r: guests are "
                    "simulated in memory", name, ", ".join(sorted(DRIVERS)), fallback)
        cls = DRIVERS[fallback]
    params = inspect.signature(cls).parameters
    kwargs: dict[str, Any] = {}
    if "hostname" in params:
        kwargs["hostname"] = socket.gethostname()
    if "instances_path" in params:
        kwargs["instances_path"] = instances_path
    if "instances_dir" in params:
        kwargs["instances_dir"] = instances_path
    driver = cls(**kwargs)
    if driver.name == "fake":
        log.info("compute: virt driver 'fake' (in-memory guests, nothing boots); "
                 "[compute] virt_driver = \"qemu\" runs real guests")
    return driver


class ComputeAgent:
    def __init__(self, link: AgentLink, driver: VirtDriver, instances_path: Path,
                 interval: float = 10.0, force_config_drive: bool = False,
                 image_cache_ttl: float = 0.0, devices: DeviceDiscovery | None = None,
                 host: str | None = None, address: str = "127.0.0.1",
                 ceph: CephClient | None = None) -> None:
        self.link = link
        # This host's cephx user and keyring for rbd volumes (its own, per host).
        self.ceph = ceph or CephClient()
        # This host's address other hosts reach (a live migration's stream comes to it).
        self.address = address
        self.driver = driver
        self.instances_path = instances_path
        self.image_cache_ttl = image_cache_ttl
        # The network data plane of this host (plug_port), when it runs here.
        self.network: Any = None
        # Drivers whose guests boot from files here get them made from images.
        self.disks: GuestDisks | None = None
        if driver.capabilities.get("local_disks"):
            self.disks = GuestDisks(DiskBuilder(instances_path), link, force_config_drive,
                                    self.ceph.root_disks())
        self.host_override = host  # the host name to act as (else the driver's)
        self.host = ""
        self.loop = ReconcileLoop("compute", interval, self.reconcile)
        self.watcher: asyncio.Task[None] | None = None  # long polls for work (remote)
        self.inflight: dict[str, asyncio.Task[None]] = {}
        self.answering: set[asyncio.Task[None]] = set()  # answers to the controller's asks
        # When each instance's last piece of work ended (monotonic): a pass that read the
        # instances before then has a stale view of it and leaves it to the next pass.
        self.ended: dict[str, float] = {}
        self.devices = devices  # host device discovery (GPUs to pass through)
        self.gpus: list[Gpu] = []  # this host's passthrough-capable GPUs

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        info = await self.driver.host_info()
        if self.host_override:
            info = dataclasses.replace(info, hostname=self.host_override)
        self.host = info.hostname
        if self.disks is not None:
            self.disks.host = self.host
        found = await asyncio.to_thread(self.devices.discover) if self.devices else []
        self.gpus = host_devices.passthrough_gpus(found)
        if self.devices is not None:
            log.info("host %s: %d GPU(s) to pass through (%s discovery): %s",
                     info.hostname, len(self.gpus), self.devices.name,
                     ", ".join(f"{g.address} {g.model or g.product_id}"
                               for g in self.gpus) or "none")
        await self.link.register(info, found)
        self.link.attach(self)
        log.info("compute agent for host %s started (virt driver %s, reconcile every %.1fs)",
                 self.host, self.driver.name, self.loop.interval)
        self.loop.start()
        if self.link.polls_for_work:
            self.watcher = asyncio.create_task(self._watch(), name="compute-work-watch")

    async def _watch(self) -> None:
        """Wake the reconcile loop as soon as the control side has new work for this host
        (else the next pass finds it)."""
        while True:
            try:
                if await self.link.wait_for_work(self.host, WORK_WAIT):
                    self.wake()
                for ask in self.link.take_asks(self.host):
                    task = asyncio.create_task(questions.answer(self, ask))
                    self.answering.add(task)
                    task.add_done_callback(self.answering.discard)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("waiting for work failed: %s", exc)
                await asyncio.sleep(self.loop.interval)

    async def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.watcher
            self.watcher = None
        await self.loop.stop()
        for task in list(self.inflight.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.inflight.clear()
        self.link.detach(self)

    def wake(self) -> None:
        self.loop.wake()

    async def console_output(self, uuid: str, length: int | None) -> str:
        return await self.driver.console_output(uuid, self.instance_dir(uuid), length)

    # --- the reconcile pass ----------------------------------------------------------------
    async def reconcile(self) -> None:
        await self.link.heartbeat(self.host)
        await self.link.schedule_pending(self.host, max(self.loop.interval * 3, 5))
        began = time.monotonic()
        instances = await self.link.instances(self.host)
        guests = {g.uuid: g for g in await self.driver.list_guests()}
        volumes = await self._volumes([i.uuid for i in instances])
        for inst in instances:
            if self.ended.get(inst.uuid, -1.0) >= began:
                # Work on it ended while this pass read: what was read (its task, its
                # guest) may be from before that work; the next pass sees it as it is.
                self.wake()
                continue
            if inst.task_state == states.MIGRATING:
                if inst.uuid not in self.inflight and migration.owed(self.host, inst):
                    self._track(inst.uuid, migration.run(self, inst, guests.get(inst.uuid)))
                continue
            if inst.task_state in states.AGENT_TASKS:
                if inst.uuid not in self.inflight:
                    self._launch(inst, guests.get(inst.uuid))
            elif inst.task_state is None and inst.uuid not in self.inflight:
                pending = [v for v in volumes.get(inst.uuid, [])
                           if v.status in (ATTACHING, DETACHING)]
                if pending:
                    self._track(inst.uuid, self.volume_ops(inst, guests.get(inst.uuid),
                                                           pending))
                else:
                    await self._observe(inst, guests.get(inst.uuid))
        live = {i.uuid for i in instances}
        if self.disks is not None:
            self.disks.prune({i.image_ref for i in instances if i.image_ref},
                             self.image_cache_ttl)
        orphans = [u for u in guests if u not in live and u not in self.inflight]
        if orphans:
            known = await self.link.known(self.host, orphans)
            for uuid in orphans:
                row = known.get(uuid)
                if row is None or row.deleted or row.host != self.host:
                    log.info("destroying guest %s: no live instance on %s owns it", uuid,
                             self.host)
                    await self.driver.destroy(uuid, self.instance_dir(uuid))

    async def _observe(self, inst: InstanceWork, guest: GuestInfo | None) -> None:
        if inst.vm_state in (states.BUILDING, states.ERROR, states.DELETED):
            return
        power = int(guest.power_state) if guest is not None else states.NOSTATE
        if inst.vm_state == states.STOPPED and guest is None:
            return
        changed = await self.link.observe(self.host, inst.uuid, power)
        if changed:
            log.warning("instance %s: guest is %s; the server is now %s", inst.uuid,
                        PowerState(power).name, changed)

    def _launch(self, inst: InstanceWork, guest: GuestInfo | None) -> None:
        self._track(inst.uuid, self._run(inst, guest))

    def _track(self, uuid: str, work: Coroutine[Any, Any, None]) -> None:
        """Run one piece of work for an instance; one at a time per instance."""
        task = asyncio.create_task(work, name=f"work-{uuid}")
        self.inflight[uuid] = task

        def ended(_t: asyncio.Task[None]) -> None:
            self.inflight.pop(uuid, None)
            self.ended[uuid] = time.monotonic()
            if len(self.ended) > 4096:
                horizon = time.monotonic() - 3600
                self.ended = {u: t for u, t in self.ended.items() if t >= horizon}

        task.add_done_callback(ended)

    # --- volumes -------------------------------------------------------------------------
    async def _volumes(self, uuids: list[str]) -> dict[str, list[VolumeDisk]]:
        return await self.link.volume_disks(self.host, uuids)

    def volume_disk(self, v: VolumeDisk) -> DiskSpec:
        return volume_disk(v, self.ceph)

    async def volume_specs(self, uuid: str) -> tuple[DiskSpec | None, list[DiskSpec]]:
        """The guest's root volume (a volume-backed server boots from it) and its other
        volumes, those attached (or being detached)."""
        vols = [v for v in (await self._volumes([uuid])).get(uuid, [])
                if v.status in (ATTACHED, DETACHING)]
        root = next((v for v in vols if v.boot_index == 0), None)
        return (self.volume_disk(root) if root else None,
                [self.volume_disk(v) for v in vols if v is not root])

    async def extend_volume(self, uuid: str, volume_id: str, size_bytes: int) -> bool:
        """Grow an attached volume in the running guest (block_resize); False when the
        guest has no process (the file is resized offline instead)."""
        try:
            info = await self.driver.get_info(uuid)
        except GuestNotFound:
            return False
        if info.power_state not in (PowerState.RUNNING, PowerState.PAUSED):
            return False
        for v in (await self._volumes([uuid])).get(uuid, []):
            if v.volume_id == volume_id:
                await self.driver.extend_volume(uuid, self.volume_disk(v), size_bytes)
                return True
        return False

    async def volume_ops(self, inst: InstanceWork, guest: GuestInfo | None,
                         pending: list[VolumeDisk]) -> None:
        """Hotplug volumes being attached, unplug those being detached (a guest without a
        process gets them at its next start)."""
        done = self.link.volume_done
        # Read again now that this op runs alone for the instance: the pass that launched it
        # may have read the volumes while an earlier op was still finishing them.
        now = {v.bdm_id: v for v in (await self._volumes([inst.uuid])).get(inst.uuid, [])}
        pending = [now[v.bdm_id] for v in pending
                   if v.bdm_id in now and now[v.bdm_id].status == v.status]
        live = guest is not None and guest.power_state in (PowerState.RUNNING,
                                                           PowerState.PAUSED)
        for v in pending:
            try:
                if v.status == ATTACHING:
                    if live:
                        await self.driver.attach_volume(inst.uuid, self.volume_disk(v))
                    await done(self.host, inst.uuid, v, "attached")
                elif v.status == DETACHING:
                    if live:
                        await self.driver.detach_volume(inst.uuid, self.volume_disk(v),
                                                        DETACH_TIMEOUT)
                    await done(self.host, inst.uuid, v, "released")
            except (VirtError, OSError) as exc:
                log.warning("instance %s: volume %s could not be %s: %s", inst.uuid,
                            v.volume_id, "attached" if v.status == ATTACHING else "detached",
                            exc)
                await done(self.host, inst.uuid, v,
                           "released" if v.status == ATTACHING else "detach-failed")

    async def _run(self, inst: InstanceWork, guest: GuestInfo | None) -> None:
        task = inst.task_state
        assert task is not None
        try:
            updates = await self._do(task, inst, guest)
        except (VirtError, OSError, BuildFailed) as exc:
            await self._failed(inst, task, str(exc) or type(exc).__name__)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("instance %s: %s failed", inst.uuid, task)
            await self._failed(inst, task, f"{type(exc).__name__}: {exc}")
            return
        power = None
        with contextlib.suppress(GuestNotFound):
            if task != states.DELETING:
                power = int((await self.driver.get_info(inst.uuid)).power_state)
        await self.link.complete(self.host, inst.uuid, task, power, updates)

    async def _failed(self, inst: InstanceWork, task: str, message: str) -> None:
        """A build that fails gives back the volumes it was given (see boot_volumes)."""
        if task == states.SPAWNING:
            made = list((inst.task_args or {}).get("made_volumes") or [])
            with contextlib.suppress(Exception):
                await self.driver.destroy(inst.uuid, self.instance_dir(inst.uuid))
                if self.disks is not None:
                    await self.disks.remove_root(inst.uuid)
            try:
                await self.link.abort_boot_volumes(self.host, inst.uuid, made)
            except Exception:
                log.exception("instance %s: giving back its volumes failed", inst.uuid)
        await self.link.fail(self.host, inst.uuid, task, message)

    # --- the work ------------------------------------------------------------------------
    async def _do(self, task: str, inst: InstanceWork, guest: GuestInfo | None
                  ) -> dict[str, Any] | None:
        d = self.driver
        uuid = inst.uuid
        if task == states.SPAWNING:
            if guest is None:  # else: adopted after a restart, already running
                await self.link.prepare_boot_volumes(self.host, uuid)
                await self._start(inst)
            return None
        if task == states.DELETING:
            await d.destroy(uuid, self.instance_dir(uuid))
            if self.disks is not None:
                await self.disks.remove_root(uuid)
            await self.link.release_devices(self.host, uuid)
            for v in (await self._volumes([uuid])).get(uuid, []):
                await self.link.volume_done(self.host, uuid, v, "released-deleted")
            return None
        if task == states.POWERING_OFF:
            await d.power_off(uuid, POWER_OFF_TIMEOUT)
        elif task == states.POWERING_ON:
            await (d.power_on(await self.spec(inst)) if guest else self._start(inst))
        elif task in (states.REBOOTING, states.REBOOTING_HARD):
            if guest is None:
                await self._start(inst)
            else:
                await d.reboot(uuid, task == states.REBOOTING_HARD, await self.spec(inst))
        elif task == states.PAUSING:
            await d.pause(uuid)
        elif task == states.UNPAUSING:
            await d.unpause(uuid)
        elif task == states.SUSPENDING:
            await d.suspend(uuid)
        elif task == states.RESUMING:
            await d.resume(await self.spec(inst))
        elif task == states.REBUILDING:
            await d.destroy(uuid, self.instance_dir(uuid))
            if self.disks is not None and "evacuated_from" not in inst.task_args:
                await self.disks.remove_root(uuid)  # re-imaged (evacuated: kept, shared)
            await self._start(inst)
            if inst.task_args.get("prior_vm_state") == states.STOPPED:
                await d.power_off(uuid, POWER_OFF_TIMEOUT)
        elif task in (states.RESIZE_PREP, states.RESIZE_REVERTING):
            return await self._resize(inst, guest, revert=task == states.RESIZE_REVERTING)
        elif task == states.RESIZE_CONFIRMING:
            return {"new_flavor": None}
        elif task == states.RESIZE_MIGRATING:
            await migration.cold_out(self, inst, guest)
        elif task == states.RESIZE_FINISH:
            await migration.cold_in(self, inst, guest)
        elif task == states.IMAGE_SNAPSHOT:
            await self._snapshot(inst)
        elif task in shelving.TASKS:
            await shelving.TASKS[task](self, inst, guest)
        return None

    async def _resize(self, inst: InstanceWork, guest: GuestInfo | None, revert: bool
                      ) -> dict[str, Any]:
        target = inst.new_flavor or inst.flavor
        was_running = guest is not None and guest.power_state == PowerState.RUNNING
        if guest is not None:
            await self.driver.power_off(inst.uuid, POWER_OFF_TIMEOUT)
        if self.disks is not None:
            await self.disks.resize(self.instance_dir(inst.uuid), target)
        resized = await self.spec(inst, target)
        if was_running or revert:
            if guest is None:
                await self.driver.spawn(resized)
            else:
                await self.driver.power_on(resized)
        updates: dict[str, Any] = {"flavor": target, "flavor_id": target["id"],
                                   "vcpus": target["vcpus"], "memory_mb": target["memory_mb"],
                                   "new_flavor": None if revert else inst.flavor}
        return updates

    async def _snapshot(self, inst: InstanceWork) -> None:
        with tempfile.TemporaryDirectory(prefix="snapshot-") as tmp:
            dest = Path(tmp) / "snapshot.qcow2"
            await self.driver.snapshot(inst.uuid, self.instance_dir(inst.uuid), dest)
            await self.link.upload_snapshot(self.host, inst.uuid, migration.chunks(dest))

    async def _start(self, inst: InstanceWork) -> None:
        """Start a guest that has no process."""
        await self.driver.spawn(await self.start_spec(inst))

    async def start_spec(self, inst: InstanceWork) -> GuestSpec:
        """The spec of a guest about to start: its disks made where missing, its NICs
        plugged."""
        spec = await self.spec(inst)
        if self.disks is not None:
            root, volumes = await self.volume_specs(inst.uuid)
            await self.disks.prepare(inst, spec.instance_dir, inst.flavor,
                                     has_ports=bool(spec.nics), local_root=root is None)
            # + the config drive just made
            spec.disks = disk_specs(spec.instance_dir, inst.flavor, root) + volumes
        return spec

    # --- specs ---------------------------------------------------------------------------
    def instance_dir(self, uuid: str) -> Path:
        return self.instances_path / uuid

    async def nics(self, inst: InstanceWork) -> list[NicSpec]:
        """The instance's ports as NICs: on their taps when the network data plane runs on
        this host (plugged now: tap on the bridge, rules in place), else user-mode."""
        out: list[NicSpec] = []
        for nic in await self.link.nics(self.host, inst.uuid):
            tap: str | None = None
            mtu = int(nic.get("mtu") or 1500)
            if self.network is not None:
                plug = await self.network.plug_port(str(nic["port_id"]))
                tap, mtu = plug.tap, plug.mtu
            out.append(NicSpec(mac=str(nic["mac"]), tap=tap, mtu=mtu,
                               port_id=str(nic["port_id"])))
        return out

    async def pci_devices(self, inst: InstanceWork, flavor: dict[str, Any]) -> list[str]:
        """The PCI addresses of the GPUs this instance gets here (its flavor's PGPU),
        assigned once and kept: placement counted them, this picks which."""
        count, required = host_devices.gpus_wanted(flavor)
        if count == 0 and not self.gpus:
            return []
        try:
            return await self.link.assign_devices(
                self.host, inst.uuid, count, host_devices.matching(self.gpus, required))
        except Conflict as exc:
            raise VirtError(f"no GPU to pass through: {exc.message}") from exc

    async def spec(self, inst: InstanceWork, flavor: dict[str, Any] | None = None) -> GuestSpec:
        flavor = flavor or inst.flavor
        idir = self.instance_dir(inst.uuid)
        root, volumes = await self.volume_specs(inst.uuid)
        return GuestSpec(
            uuid=inst.uuid, name=inst.hostname or inst.name, vcpus=int(flavor["vcpus"]),
            memory_mb=int(flavor["memory_mb"]), instance_dir=idir,
            disks=disk_specs(idir, flavor, root) + volumes, nics=await self.nics(inst),
            smbios={"manufacturer": "OpenStack Foundation", "product": "OpenStack Nova",
                    "serial": inst.uuid, "uuid": inst.uuid},
            pci_devices=await self.pci_devices(inst, flavor))
