"""Live migration between two hosts' QEMUs, with the disks copied (no shared storage).

As libvirt does it: the target QEMU starts with ``-incoming defer -S`` on disks made from
the same base image, exports its writable disks over NBD and listens for the migration
stream; the source mirrors each writable disk into that export (``drive-mirror``, only what
its overlay holds: ``sync: top``), migrates memory and device state once every mirror is in
step, then completes the mirrors (``block-job-cancel`` of a ready mirror leaves the target
consistent) and quits. The target is let run only then (``finish``).

Both streams are TLS with a pre-shared key (QEMU's ``tls-creds-psk``), fresh for each
migration: the target makes it and hands it to the source inside ``listen``'s answer, which
goes through the controller's authenticated internal API, never over the migration network.
Without the key nobody reads or writes the exported disks or feeds the waiting guest a
state. Each side keeps the key in its instance dir (``keys.psk``, root only) while it needs
it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import secrets
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from onestack.drivers.virt.base import VirtError
from onestack.drivers.virt.qemu.qmp import QmpClient, QmpError

BANDWIDTH = 1 << 30  # bytes/s: QEMU's default (32 MiB/s) is for a WAN
POLL = 0.05
TLS_ID = "migration-tls"
PSK_USER = "onestack-migration"


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


def write_psk(tls_dir: Path, key: str) -> None:
    """QEMU's PSK credentials directory: ``keys.psk`` with ``user:hexkey``, root only."""
    if not key or any(c not in "0123456789abcdef" for c in key):
        raise VirtError("the migration key is not a hex string")
    tls_dir.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(tls_dir / "keys.psk", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{PSK_USER}:{key}\n")


def forget_psk(tls_dir: Path) -> None:
    shutil.rmtree(tls_dir, ignore_errors=True)


async def _credentials(qmp: QmpClient, endpoint: str, tls_dir: Path) -> None:
    with contextlib.suppress(QmpError):  # left by an earlier try on this QEMU
        await qmp.execute("object-del", {"id": TLS_ID})
    args = {"qom-type": "tls-creds-psk", "id": TLS_ID, "endpoint": endpoint,
            "dir": str(tls_dir)}
    if endpoint == "client":
        args["username"] = PSK_USER
    await qmp.execute("object-add", args)


async def listen(qmp: QmpClient, address: str, disks: list[str], tls_dir: Path
                 ) -> dict[str, Any]:
    """On the waiting target: the NBD export of ``disks`` and the migration listener, both
    TLS under a new key; what the source needs to reach them (the key included)."""
    key = secrets.token_hex(32)
    write_psk(tls_dir, key)
    await _credentials(qmp, "server", tls_dir)
    nbd_port = free_port(address)
    await qmp.execute("nbd-server-start", {"addr": {"type": "inet", "data": {
        "host": address, "port": str(nbd_port)}}, "tls-creds": TLS_ID})
    for node in disks:
        await qmp.execute("nbd-server-add", {"device": node, "writable": True})
    await qmp.execute("migrate-set-parameters", {"tls-creds": TLS_ID})
    uri = f"tcp:{_host(address)}:{free_port(address)}"
    await qmp.execute("migrate-incoming", {"uri": uri})
    return {"migrate": uri, "nbd": f"{_host(address)}:{nbd_port}", "disks": disks,
            "psk": key}


def _split(hostport: str) -> tuple[str, int]:
    host, _, port = hostport.rpartition(":")
    try:
        return host.strip("[]"), int(port)
    except ValueError as exc:
        raise VirtError(f"the target's NBD address {hostport!r} is not host:port") from exc


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
               timeout: float, tls_dir: Path) -> None:
    """On the source: copy ``disks`` and the guest's state to ``dest`` (``listen``'s
    answer), over TLS with its key. On failure everything started is cancelled and the
    guest runs on here."""
    wanted = [str(d) for d in dest.get("disks") or []]
    if sorted(wanted) != sorted(disks):
        raise VirtError(f"the target's disks {wanted} are not this guest's {disks}")
    if not dest.get("psk"):
        raise VirtError("the target offered no migration key (an older Onestack there? "
                        "live migration needs the same version on both hosts)")
    host, port = _split(str(dest["nbd"]))
    deadline = time.monotonic() + timeout
    jobs: list[str] = []
    was = (await qmp.execute("query-status")).get("status")
    try:
        write_psk(tls_dir, str(dest["psk"]))
        try:
            await _credentials(qmp, "client", tls_dir)  # QEMU reads the key now
        finally:
            forget_psk(tls_dir)
        for node in disks:
            job = f"migrate-{node}"
            with contextlib.suppress(QmpError):  # left by an earlier try
                await qmp.execute("blockdev-del", {"node-name": f"nbd-{node}"})
            await qmp.execute("blockdev-add", {
                "driver": "nbd", "node-name": f"nbd-{node}", "export": node,
                "server": {"type": "inet", "host": host, "port": str(port)},
                "tls-creds": TLS_ID})
            await qmp.execute("blockdev-mirror", {
                "device": node, "job-id": job, "target": f"nbd-{node}", "sync": "top"})
            jobs.append(job)
        await _wait_ready(qmp, jobs, deadline)
        await qmp.execute("migrate-set-capabilities", {"capabilities": [
            {"capability": "auto-converge", "state": True}]})
        await qmp.execute("migrate-set-parameters", {"max-bandwidth": BANDWIDTH,
                                                     "tls-creds": TLS_ID})
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
        await _undo(qmp, jobs, was == "running", disks)
        raise


async def _undo(qmp: QmpClient, jobs: list[str], was_running: bool,
                disks: list[str]) -> None:
    with contextlib.suppress(QmpError):
        await qmp.execute("migrate_cancel")
    for job in jobs:
        with contextlib.suppress(QmpError):
            await qmp.execute("block-job-cancel", {"device": job, "force": True})
    for node in disks:  # once its job is gone (a node in use stays till the next try)
        deadline = time.monotonic() + 5.0
        while f"migrate-{node}" in await _jobs_quiet(qmp) and time.monotonic() < deadline:
            await asyncio.sleep(POLL)
        with contextlib.suppress(QmpError):
            await qmp.execute("blockdev-del", {"node-name": f"nbd-{node}"})
    with contextlib.suppress(QmpError):
        await qmp.execute("migrate-set-parameters", {"tls-creds": ""})
    with contextlib.suppress(QmpError):
        status = (await qmp.execute("query-status")).get("status")
        if was_running and status in ("postmigrate", "paused", "finish-migrate"):
            await qmp.execute("cont")


async def _jobs_quiet(qmp: QmpClient) -> dict[str, dict[str, Any]]:
    try:
        return await _jobs(qmp)
    except QmpError:
        return {}


async def finish(qmp: QmpClient, run: bool, timeout: float, tls_dir: Path) -> None:
    """On the target once the source is done: no more NBD, no more key; the guest runs
    (or stays paused when it was paused)."""
    deadline = time.monotonic() + timeout
    while (await qmp.execute("query-status")).get("status") == "inmigrate":
        if time.monotonic() >= deadline:
            raise VirtError("the migration stream did not arrive in time")
        await asyncio.sleep(POLL)
    with contextlib.suppress(QmpError):
        await qmp.execute("nbd-server-stop")
    # a later suspend's migration (to a file) is no TLS stream
    await qmp.execute("migrate-set-parameters", {"tls-creds": ""})
    with contextlib.suppress(QmpError):
        await qmp.execute("object-del", {"id": TLS_ID})
    forget_psk(tls_dir)
    if run:
        await qmp.execute("cont")
