"""Live migration between two hosts' QEMUs, with the disks copied (no shared storage).

As libvirt does it: the target QEMU starts with ``-incoming defer -S`` on disks made from
the same base image, exports its writable disks over NBD and listens for the migration
stream; the source mirrors each writable disk into that export (``drive-mirror``, only what
its overlay holds: ``sync: top``), migrates memory and device state once every mirror is in
step, then completes the mirrors (``block-job-cancel`` of a ready mirror leaves the target
consistent) and quits. The target is let run only then (``finish``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import time
from typing import Any

from onestack.drivers.virt.base import VirtError
from onestack.drivers.virt.qemu.qmp import QmpClient, QmpError

BANDWIDTH = 1 << 30  # bytes/s: QEMU's default (32 MiB/s) is for a WAN
POLL = 0.05


def _host(address: str) -> str:
    try:
        return f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    except ValueError as exc:
        raise VirtError(f"migration address {address!r} is not an IP address") from exc


def free_port(address: str) -> int:
    """A TCP port free on ``address`` now (QEMU binds it right after)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


async def listen(qmp: QmpClient, address: str, disks: list[str]) -> dict[str, Any]:
    """On the waiting target: the NBD export of ``disks`` and the migration listener;
    what the source needs to reach them."""
    nbd_port = free_port(address)
    await qmp.execute("nbd-server-start", {"addr": {"type": "inet", "data": {
        "host": address, "port": str(nbd_port)}}})
    for node in disks:
        await qmp.execute("nbd-server-add", {"device": node, "writable": True})
    uri = f"tcp:{_host(address)}:{free_port(address)}"
    await qmp.execute("migrate-incoming", {"uri": uri})
    return {"migrate": uri, "nbd": f"{_host(address)}:{nbd_port}", "disks": disks}


async def _jobs(qmp: QmpClient) -> dict[str, dict[str, Any]]:
    return {str(j["device"]): j for j in await qmp.execute("query-block-jobs")}


async def _wait_ready(qmp: QmpClient, jobs: list[str], deadline: float) -> None:
    while True:
        found = await _jobs(qmp)
        missing = [j for j in jobs if j not in found]
        if missing:
            raise VirtError(f"disk copy {missing[0]} stopped: "
                            f"{_last_error(qmp) or 'the target went away'}")
        if all(found[j].get("ready") for j in jobs):
            return
        if time.monotonic() >= deadline:
            raise VirtError("copying the disks did not finish in time")
        await asyncio.sleep(POLL)


def _last_error(qmp: QmpClient) -> str:
    for event in reversed(qmp.events):
        data = event.get("data") or {}
        if event.get("event") == "BLOCK_JOB_COMPLETED" and data.get("error"):
            return str(data["error"])
    return ""


async def wait_migrated(qmp: QmpClient, timeout: float, what: str) -> None:
    """Until QEMU's outgoing migration (to a host, or to a suspend file) completed;
    cancelled and VirtError when it failed or took over ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        info = await qmp.execute("query-migrate")
        status = info.get("status")
        if status == "completed":
            return
        if status in ("failed", "cancelled"):
            raise VirtError(f"{what} failed: {info.get('error-desc', status)}")
        if time.monotonic() >= deadline:
            with contextlib.suppress(QmpError):
                await qmp.execute("migrate_cancel")
            raise VirtError(f"{what} took over {timeout:g}s")
        await asyncio.sleep(POLL)


async def send(qmp: QmpClient, dest: dict[str, Any], disks: list[str],
               timeout: float) -> None:
    """On the source: copy ``disks`` and the guest's state to ``dest`` (``listen``'s
    answer). On failure everything started is cancelled and the guest runs on here."""
    wanted = [str(d) for d in dest.get("disks") or []]
    if sorted(wanted) != sorted(disks):
        raise VirtError(f"the target's disks {wanted} are not this guest's {disks}")
    deadline = time.monotonic() + timeout
    jobs: list[str] = []
    was = (await qmp.execute("query-status")).get("status")
    try:
        for node in disks:
            job = f"migrate-{node}"
            await qmp.execute("drive-mirror", {
                "device": node, "job-id": job, "target": f"nbd://{dest['nbd']}/{node}",
                "format": "raw", "sync": "top", "mode": "existing"})
            jobs.append(job)
        await _wait_ready(qmp, jobs, deadline)
        await qmp.execute("migrate-set-capabilities", {"capabilities": [
            {"capability": "auto-converge", "state": True}]})
        await qmp.execute("migrate-set-parameters", {"max-bandwidth": BANDWIDTH})
        await qmp.execute("migrate", {"uri": str(dest["migrate"])})
        await wait_migrated(qmp, max(deadline - time.monotonic(), 1.0), "the migration")
        # The guest is stopped here now: the mirrors write their last blocks and end.
        for job in jobs:
            await qmp.execute("block-job-cancel", {"device": job})
        while set(jobs) & set(await _jobs(qmp)):
            if time.monotonic() >= deadline:
                raise VirtError("the disk copies did not complete in time")
            await asyncio.sleep(POLL)
    except BaseException:
        await _undo(qmp, jobs, was == "running")
        raise


async def _undo(qmp: QmpClient, jobs: list[str], was_running: bool) -> None:
    with contextlib.suppress(QmpError):
        await qmp.execute("migrate_cancel")
    for job in jobs:
        with contextlib.suppress(QmpError):
            await qmp.execute("block-job-cancel", {"device": job, "force": True})
    with contextlib.suppress(QmpError):
        status = (await qmp.execute("query-status")).get("status")
        if was_running and status in ("postmigrate", "paused", "finish-migrate"):
            await qmp.execute("cont")


async def finish(qmp: QmpClient, run: bool, timeout: float) -> None:
    """On the target once the source is done: no more NBD; the guest runs (or stays
    paused when it was paused)."""
    deadline = time.monotonic() + timeout
    while (await qmp.execute("query-status")).get("status") == "inmigrate":
        if time.monotonic() >= deadline:
            raise VirtError("the migration stream did not arrive in time")
        await asyncio.sleep(POLL)
    with contextlib.suppress(QmpError):
        await qmp.execute("nbd-server-stop")
    if run:
        await qmp.execute("cont")
