"""Live migration of a guest with RBD volumes (real QEMU, the shared throwaway Ceph cluster):
the volumes are shared storage, so only the local root disk is copied (the target's answer
exports ``disk0`` alone); the target host plugs both volumes with its own cephx user and
key before the stream arrives, in the source's order (one on the command line at start,
one hot-plugged later); what the source's guest wrote to a volume is read on the target.
No key is in either QEMU's argv."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from onestack.drivers.storage.ceph_conf import parse_mon_host
from onestack.drivers.virt.base import DiskSpec, GuestSpec, PowerState, RbdSource
from onestack.drivers.virt.qemu import QemuDriver
from onestack.drivers.virt.qemu.cmdline import GuestFiles, volume_node
from onestack.drivers.virt.qemu.qmp import qmp_command
from tests.integration.test_rbd_driver import _skip_reason
from tests.support.ceph import CephCluster, add_user, shared_cluster

pytestmark = [pytest.mark.integration]

UUID = "0b5e3c1d-7a2f-4e8b-9c61-5d2f0a7e3b44"
VOLUMES = ("mig-vol-1", "mig-vol-2")


def _spec(instances: Path, ceph: CephCluster, user: str, keyring: Path) -> GuestSpec:
    instance_dir = instances / UUID
    instance_dir.mkdir(parents=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(instance_dir / "disk"),
                    "16M"], check=True)
    hosts, ports = parse_mon_host(ceph.conf.read_text())
    vols = [DiskSpec(Path(v), "raw", "volume", serial=v, rbd=RbdSource(
        f"{ceph.pool}/volume-{v}", hosts, ports, user, str(keyring))) for v in VOLUMES]
    return GuestSpec(UUID, "rbd-mig", 1, 64, instance_dir,
                     [DiskSpec(instance_dir / "disk", "qcow2", "root"), *vols])


async def _hmp(instance_dir: Path, line: str) -> str:
    """An HMP command; qemu-io prints to QEMU's stdout, which is qemu.log: what it added."""
    log = GuestFiles(instance_dir).log
    before = log.stat().st_size if log.exists() else 0
    out = await qmp_command(GuestFiles(instance_dir).qmp, "human-monitor-command",
                            {"command-line": line}, timeout=30)
    with log.open("rb") as fh:
        fh.seek(before)
        return str(out) + fh.read().decode(errors="replace")


def _io(disk: DiskSpec, command: str) -> str:
    return (f'qemu-io -d /machine/peripheral/{volume_node(disk)}-dev/virtio-backend '
            f'"{command}"')


def _argv(instance_dir: Path) -> bytes:
    pid = int((GuestFiles(instance_dir).pidfile).read_text().split()[0])
    return Path(f"/proc/{pid}/cmdline").read_bytes()


@pytest.fixture
async def hosts() -> AsyncIterator[dict[str, Any]]:
    why = _skip_reason()
    if why:
        pytest.skip(why)
    if os.geteuid() != 0:
        pytest.skip("needs root")
    ceph = shared_cluster()
    keyrings = {h: add_user(ceph, f"mig-{h}") for h in ("a", "b")}
    for v in VOLUMES:
        ceph.rbd("create", "--size", "64", f"{ceph.pool}/volume-{v}")
    root = Path(tempfile.mkdtemp(prefix="onestack-rbd-mig-"))
    source = QemuDriver(root / "a", accel="tcg")
    target = QemuDriver(root / "b", accel="tcg")
    world = {"ceph": ceph, "source": source, "target": target, "keyrings": keyrings,
             "a": _spec(root / "a", ceph, "mig-a", keyrings["a"]),
             "b": _spec(root / "b", ceph, "mig-b", keyrings["b"])}
    try:
        yield world
    finally:
        for driver, side in ((source, "a"), (target, "b")):
            await driver.destroy(UUID, world[side].instance_dir)
        shutil.rmtree(root, ignore_errors=True)
        for v in VOLUMES:
            ceph.rbd("rm", "--no-progress", f"{ceph.pool}/volume-{v}")
        for h in keyrings:
            ceph.ceph("auth", "del", f"client.mig-{h}")


async def test_a_guest_with_rbd_volumes_live_migrates_without_copying_them(
        hosts: dict[str, Any]) -> None:
    ceph, source, target = hosts["ceph"], hosts["source"], hosts["target"]
    spec_a, spec_b = hosts["a"], hosts["b"]
    first, second = spec_a.disks[1], spec_a.disks[2]
    # the source starts with the first volume; the second is hot-plugged later
    started = GuestSpec(**{**spec_a.__dict__, "disks": spec_a.disks[:2]})
    await source.spawn(started)
    await source.attach_volume(UUID, second)
    argv_a = _argv(spec_a.instance_dir)
    for disk, pattern in ((first, 0x5A), (second, 0x77)):
        out = await _hmp(spec_a.instance_dir, _io(disk, f"write -P {pattern} 0 64k"))
        assert "wrote 65536/65536" in out, out

    dest = await target.prepare_incoming(spec_b, "127.0.0.1")
    assert dest["disks"] == ["disk0"]  # the local root only: the volumes are shared
    await source.live_migrate(UUID, dest, 60)
    await target.finish_incoming(UUID, run=True)
    assert (await target.get_info(UUID)).power_state is PowerState.RUNNING
    assert (await source.get_info(UUID)).power_state is PowerState.SHUTDOWN

    for disk, pattern in ((spec_b.disks[1], 0x5A), (spec_b.disks[2], 0x77)):
        out = await _hmp(spec_b.instance_dir, _io(disk, f"read -P {pattern} 0 64k"))
        assert "read 65536/65536" in out and "verification failed" not in out, out
    # the target opened them as its own cephx user, the key only as a secret object
    nodes = json.dumps(await qmp_command(GuestFiles(spec_b.instance_dir).qmp,
                                         "query-named-block-nodes"))
    assert '\\"user\\": \\"mig-b\\"' in nodes or '"user": "mig-b"' in nodes, nodes[:2000]
    keys = [k.read_text().split("key = ")[1].split()[0] for k in hosts["keyrings"].values()]
    for argv in (argv_a, _argv(spec_b.instance_dir)):
        assert b"volume-mig" not in argv and not any(k.encode() in argv for k in keys)
    assert not any(k in nodes for k in keys)
    assert ceph.pool in nodes
