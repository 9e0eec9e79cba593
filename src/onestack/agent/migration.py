"""The compute agent's part of migrations.

Cold (core/compute/migrate.py): the source stops the guest and uploads its root disk
flattened (a server booted from a volume on shared storage has none: nothing is uploaded;
a root disk on RBD, ``images_type = rbd``, stays in its pool: an empty upload);
the target starts the guest from it (or from its root volume). A source the migration was
rolled back to (the target failed) starts it again the same way.

Live (the steps: core/compute/live_migrate.py): the target prepares (``prepare``: the
guest's disks made from its image, its NICs plugged, QEMU waiting) and later lets the guest
run (``finish``); the source copies (``copy``). A step that fails is reported, and the
controller puts things back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from onestack.agent.guest_disks import RBD_ROOT, ROOT
from onestack.agent.link import InstanceWork
from onestack.core.compute import live_migrate as steps
from onestack.core.compute import states
from onestack.drivers.virt.base import GuestInfo, GuestNotFound, PowerState, VirtError
from onestack.errors import OnestackError

if TYPE_CHECKING:
    from onestack.agent.compute import ComputeAgent

log = logging.getLogger(__name__)
TIMEOUT = 600.0  # seconds for the disks and the memory to get across
POWER_OFF_TIMEOUT = 60.0


async def cold_out(agent: ComputeAgent, inst: InstanceWork, guest: GuestInfo | None
                   ) -> None:
    """Cold migration, source: the guest stopped, its root disk uploaded flattened (the
    target may lack the image's base). The guest goes on the next pass: its instance is
    then the target's."""
    if guest is not None:
        await agent.driver.power_off(inst.uuid, POWER_OFF_TIMEOUT)
    if not inst.image_ref:  # booted from a volume (shared storage): nothing to upload
        return
    # the fake hypervisor has no disk files; a root disk on RBD is shared: none is copied
    if agent.disks is None or (agent.instance_dir(inst.uuid) / RBD_ROOT).exists():
        await agent.link.upload_migration_disk(agent.host, inst.uuid, chunks(None))
        return
    root = agent.instance_dir(inst.uuid) / ROOT
    with tempfile.TemporaryDirectory(prefix="migrate-", dir=agent.instances_path) as tmp:
        flat = Path(tmp) / "disk.qcow2"
        await agent.disks.builder.flatten(root, flat)
        await agent.link.upload_migration_disk(agent.host, inst.uuid, chunks(flat))


async def cold_in(agent: ComputeAgent, inst: InstanceWork, guest: GuestInfo | None
                  ) -> None:
    """Cold migration, target: the uploaded disk as the root (a volume-backed server boots
    from its root volume), the guest started (and stopped again when it was stopped
    before). A guest already here that is not running (the one stopped on this host
    before a rollback brought the server back) is made again."""
    if guest is not None and guest.power_state != PowerState.RUNNING:
        await agent.driver.destroy(inst.uuid, agent.instance_dir(inst.uuid))
        guest = None
    if guest is None:
        if inst.image_ref:
            await _download_root(agent, inst)
        await agent.driver.spawn(await agent.start_spec(inst))
    if (inst.task_args or {}).get("prior_vm_state") == states.STOPPED:
        await agent.driver.power_off(inst.uuid, POWER_OFF_TIMEOUT)


async def _download_root(agent: ComputeAgent, inst: InstanceWork) -> None:
    idir = agent.instance_dir(inst.uuid)
    idir.mkdir(parents=True, exist_ok=True)
    part = idir / f"{ROOT}.part"
    with part.open("wb") as fh:
        async for chunk in agent.link.migration_disk(agent.host, inst.uuid):
            await asyncio.to_thread(fh.write, chunk)
    # empty: the source's root disk is on RBD (shared storage), it stays there
    if agent.disks is not None and part.stat().st_size == 0:
        part.unlink()
        return
    os.replace(part, idir / ROOT)


def owed(host: str, inst: InstanceWork) -> bool:
    """Whether this host has a step to take now."""
    step = inst.task_args.get(steps.STEP)
    if inst.host != host:
        return step == steps.PREPARE and inst.task_args.get(steps.TARGET) == host
    return step in (steps.COPY, steps.FINISH)


async def run(agent: ComputeAgent, inst: InstanceWork, guest: GuestInfo | None) -> None:
    step = inst.task_args.get(steps.STEP)
    try:
        if inst.host != agent.host:
            await _prepare(agent, inst, guest)
        elif step == steps.COPY:
            log.info("instance %s: live-migrating to %s", inst.uuid,
                     inst.task_args.get(steps.TARGET))
            await agent.driver.live_migrate(inst.uuid, dict(inst.task_args[steps.DEST]),
                                            TIMEOUT)
            await agent.link.live_migration_step(agent.host, inst.uuid, "migrated")
        elif step == steps.FINISH:
            paused = inst.task_args.get("prior_vm_state") == states.PAUSED
            await agent.driver.finish_incoming(inst.uuid, run=not paused)
            power = int((await agent.driver.get_info(inst.uuid)).power_state)
            await agent.link.complete(agent.host, inst.uuid, states.MIGRATING, power, None)
    except (VirtError, OSError, OnestackError) as exc:
        message = str(exc) or type(exc).__name__
        log.warning("instance %s: live migration step %s failed: %s", inst.uuid, step,
                    message)
        await agent.link.fail(agent.host, inst.uuid, states.MIGRATING, message)


async def _prepare(agent: ComputeAgent, inst: InstanceWork, guest: GuestInfo | None
                   ) -> None:
    """The target: a paused guest from the same image, waiting for the source."""
    if guest is not None:  # left by an earlier try that failed
        await agent.driver.destroy(inst.uuid, agent.instance_dir(inst.uuid))
    spec = await agent.start_spec(inst)
    try:
        dest = await agent.driver.prepare_incoming(spec, agent.address)
        await agent.link.live_migration_step(agent.host, inst.uuid, "prepared", dest)
    except BaseException:
        with contextlib.suppress(VirtError, GuestNotFound, OSError):
            await agent.driver.destroy(inst.uuid, agent.instance_dir(inst.uuid))
        raise


async def chunks(path: Path | None, size: int = 1024 * 1024) -> AsyncIterator[bytes]:
    if path is None:
        yield b""
        return
    with path.open("rb") as fh:
        while chunk := await asyncio.to_thread(fh.read, size):
            yield chunk

