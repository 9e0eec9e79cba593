"""The compute agent's shelve and rescue work (core/compute/shelve.py says the flow).

- shelve: the guest stops; its root disk is uploaded to the shelve image, if it has one;
- offload: the guest and its files are destroyed (its disk lives in the image now);
- unshelve: a guest still here starts again; else one is built from the shelve image (the
  root flattened: the image and its cached base go away once the server runs);
- rescue: the guest restarts from ``disk.rescue``, a standalone copy of the rescue image,
  its own disks attached after it (the rescue disk is the one it boots);
- unrescue: it restarts from its own disks; ``disk.rescue`` is removed.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from onestack.agent.guest_disks import ROOT
from onestack.agent.link import InstanceWork
from onestack.core.compute import shelve, states
from onestack.drivers.virt.base import DiskSpec, GuestInfo, GuestSpec, PowerState

if TYPE_CHECKING:
    from onestack.agent.compute import ComputeAgent

RESCUE = "disk.rescue"
LIVE = (PowerState.RUNNING, PowerState.PAUSED)
STOP_TIMEOUT = 60.0  # seconds a guest has to shut down before it is stopped hard


async def _stop(agent: ComputeAgent, guest: GuestInfo | None) -> None:
    if guest is not None and guest.power_state in LIVE:
        await agent.driver.power_off(guest.uuid, STOP_TIMEOUT)


async def _run(agent: ComputeAgent, spec: GuestSpec, guest: GuestInfo | None) -> None:
    if guest is None:
        await agent.driver.spawn(spec)
    else:
        await agent.driver.power_on(spec)


async def shelve_guest(agent: ComputeAgent, inst: InstanceWork,
                       guest: GuestInfo | None) -> None:
    await _stop(agent, guest)
    if inst.task_args.get("image_id"):
        await agent._snapshot(inst)


async def offload(agent: ComputeAgent, inst: InstanceWork, guest: GuestInfo | None) -> None:
    await agent.driver.destroy(inst.uuid, agent.instance_dir(inst.uuid))
    await agent.link.release_devices(agent.host, inst.uuid)


async def unshelve(agent: ComputeAgent, inst: InstanceWork, guest: GuestInfo | None) -> None:
    if guest is not None:
        await agent.driver.power_on(await agent.spec(inst))
        return
    spec = await agent.start_spec(inst)
    root = spec.instance_dir / ROOT
    if agent.disks is not None and inst.task_args.get(shelve.BOOT_IMAGE) and root.exists():
        flat = root.with_name(ROOT + ".flat")
        await agent.disks.builder.flatten(root, flat)
        os.replace(flat, root)
    await agent.driver.spawn(spec)


async def rescue(agent: ComputeAgent, inst: InstanceWork, guest: GuestInfo | None) -> None:
    await _stop(agent, guest)
    idir = agent.instance_dir(inst.uuid)
    disk = idir / RESCUE
    if agent.disks is not None:
        base = await agent.disks.base(inst)  # the rescue image (the task's boot image)
        part = disk.with_name(RESCUE + ".part")
        await agent.disks.builder.flatten(base, part)
        os.replace(part, disk)
    spec = await agent.spec(inst)
    spec.disks = [DiskSpec(disk, "qcow2", "root"), *spec.disks]
    await _run(agent, spec, guest)


async def unrescue(agent: ComputeAgent, inst: InstanceWork, guest: GuestInfo | None) -> None:
    await _stop(agent, guest)
    (agent.instance_dir(inst.uuid) / RESCUE).unlink(missing_ok=True)
    await _run(agent, await agent.spec(inst), guest)


Work = Callable[["ComputeAgent", InstanceWork, GuestInfo | None], Awaitable[None]]
TASKS: dict[str, Work] = {
    states.SHELVING: shelve_guest, states.SHELVING_OFFLOADING: offload,
    states.UNSHELVING: unshelve, states.RESCUING: rescue, states.UNRESCUING: unrescue,
}
