"""RBD root disks (``[compute] images_type = "rbd"``) without a cluster: the rbd CLI is
replaced by an in-memory pool; the real cluster's case is in
tests/integration/test_rbd_guests.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from onestack.agent import migration
from onestack.agent.compute import ComputeAgent
from onestack.agent.guest_disks import RBD_ROOT, CephClient, GuestDisks, disk_specs
from onestack.agent.link import InstanceWork
from onestack.config import ComputeConfig
from onestack.core.compute import states
from onestack.drivers.virt import rbd_root
from onestack.drivers.virt.base import GuestSpec, VirtError
from onestack.drivers.virt.disks import DiskBuilder
from onestack.drivers.virt.qemu.cmdline import migrated_disks
from onestack.drivers.virt.rbd_root import RbdRootDisks

UUID = "6c1f0e7e-8f7c-4f55-9c3e-1d2b7f5e9a01"


class Pool:
    """``rbd`` calls on one in-memory pool; ``images/<id>@snap`` exist for ``snaps``."""

    def __init__(self, snaps: set[str], fail: str = "") -> None:
        self.images: dict[str, dict[str, Any]] = {}
        self.snaps, self.fail = snaps, fail
        self.calls: list[str] = []

    async def rbd(self, *args: str, timeout: float | None = None) -> bytes:
        self.calls.append(args[0])
        if args[0] == self.fail:
            raise VirtError(f"Ceph: rbd {args[0]} failed: boom")
        if args[0] == "clone":
            if args[1] not in self.snaps:
                raise VirtError("Ceph: rbd clone failed: (2) No such file or directory")
            pool, _, rest = args[1].partition("/")
            image, _, snap = rest.partition("@")
            self.images[args[2].split("/")[1]] = {
                "size": 50 << 20, "parent": {"pool": pool, "image": image, "snapshot": snap}}
        elif args[0] == "create":
            self.images[args[-1].split("/")[1]] = {"size": int(args[2].rstrip("M")) << 20}
        elif args[0] == "resize":
            self.images[args[-1].split("/")[1]]["size"] = int(args[3].rstrip("G")) << 30
        return b""

    async def info(self, image: str) -> dict[str, Any] | None:
        return self.images.get(image)

    async def rm(self, image: str) -> None:
        self.images.pop(image, None)


def disks(pool: Pool, mp: pytest.MonkeyPatch) -> RbdRootDisks:
    d = RbdRootDisks("vms", "compute-a", "/etc/ceph/ceph.conf", "", "images")
    for name in ("rbd", "info", "rm"):
        mp.setattr(d.cli, name, getattr(pool, name))
    return d


async def no_base() -> Path:
    raise AssertionError("fetched the image although it is cloned")


def test_raw_image_on_the_store_is_cloned_and_grown(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = Pool({"images/img1@snap"})
    d = disks(pool, monkeypatch)
    assert asyncio.run(d.create(UUID, "img1", "raw", 2, no_base)) is True
    assert asyncio.run(d.parent(UUID)) == "images/img1@snap"
    assert pool.images[f"{UUID}_disk"]["size"] == 2 << 30
    assert "import" not in pool.calls and "create" not in pool.calls
    src = d.source(UUID)
    assert src.name == f"vms/{UUID}_disk" and src.user == "compute-a"
    assert src.keyring == "/etc/ceph/ceph.client.compute-a.keyring"
    asyncio.run(d.remove(UUID))
    asyncio.run(d.remove(UUID))  # idempotent
    assert pool.images == {}


def test_other_images_are_converted_from_the_base(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    pool = Pool(set())  # not on the store: the clone fails, the base is converted
    tools: list[tuple[str, ...]] = []

    async def run_tool(*argv: str, timeout: float) -> str:
        tools.append(argv)
        return json.dumps({"virtual-size": 40 << 20})

    monkeypatch.setattr(rbd_root, "run_tool", run_tool)
    base = tmp_path / "base.qcow2"

    async def fetch() -> Path:
        return base

    d = disks(pool, monkeypatch)
    assert asyncio.run(d.create(UUID, "img1", "raw", 0, fetch)) is False
    assert asyncio.run(d.parent(UUID)) is None
    assert pool.images[f"{UUID}_disk"]["size"] == 40 << 20
    convert = tools[-1]
    assert convert[1] == "convert" and str(base) in convert
    assert convert[-1].startswith(f"rbd:vms/{UUID}_disk:id=compute-a")
    tools.clear()
    asyncio.run(d.create("other", "img2", "qcow2", 0, fetch))  # never cloned: not raw
    assert pool.calls.count("clone") == 1


def test_a_failed_build_leaves_no_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = Pool({"images/img1@snap"}, fail="resize")
    with pytest.raises(VirtError, match="boom"):
        asyncio.run(disks(pool, monkeypatch).create(UUID, "img1", "raw", 5, no_base))
    assert pool.images == {}


def test_bad_names_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(VirtError, match="instance uuid"):
        disks(Pool(set()), monkeypatch).name("../x")


def test_the_recorded_root_is_the_guests_boot_disk_and_is_not_copied(tmp_path: Path
                                                                       ) -> None:
    cfg = ComputeConfig(rbd_user="compute-a", images_type="rbd", images_rbd_pool="vms")
    ceph = CephClient.from_config(cfg)
    root_disks = ceph.root_disks()
    assert root_disks is not None and root_disks.cli.pool == "vms"
    assert CephClient.from_config(ComputeConfig()).root_disks() is None
    idir = tmp_path / UUID
    idir.mkdir()
    (idir / RBD_ROOT).write_text(json.dumps(asdict(root_disks.source(UUID))))
    specs = disk_specs(idir, {"ephemeral_gb": 1})
    root = specs[0]
    assert root.kind == "root" and root.rbd is not None and root.format == "raw"
    assert root.rbd.name == f"vms/{UUID}_disk" and root.serial == UUID[:20]
    spec = GuestSpec(uuid=UUID, name="a", vcpus=1, memory_mb=64, instance_dir=idir,
                     disks=specs)
    assert migrated_disks(spec) == ["disk1"]  # the ephemeral file only
    (idir / RBD_ROOT).write_text("{nope")
    with pytest.raises(VirtError, match="unreadable"):
        disk_specs(idir, {})


class MoveLink:
    def __init__(self) -> None:
        self.uploads: list[bytes] = []

    async def upload_migration_disk(self, host: str, uuid: str,
                                    chunks: AsyncIterator[bytes]) -> None:
        self.uploads.append(b"".join([c async for c in chunks]))

    async def migration_disk(self, host: str, uuid: str) -> AsyncIterator[bytes]:
        for chunk in self.uploads:
            yield chunk


class Off:
    async def power_off(self, uuid: str, timeout: float) -> None:
        return None


def test_cold_migration_and_resize_of_an_rbd_root_copy_nothing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pool = Pool({"images/img1@snap"})
    root_disks = disks(pool, monkeypatch)
    asyncio.run(root_disks.create(UUID, "img1", "raw", 1, no_base))
    link = MoveLink()
    guest_disks = GuestDisks(DiskBuilder(tmp_path), cast(Any, link), rbd=root_disks)
    source, target = tmp_path / "a", tmp_path / "b"
    agents = [cast(Any, SimpleNamespace(
        link=link, driver=Off(), host=h, disks=guest_disks, instances_path=d,
        instance_dir=lambda u, d=d: d / u)) for h, d in (("a", source), ("b", target))]
    (source / UUID).mkdir(parents=True)
    (source / UUID / RBD_ROOT).write_text(json.dumps(asdict(root_disks.source(UUID))))
    inst = cast(Any, SimpleNamespace(uuid=UUID, image_ref="img1"))
    asyncio.run(migration.cold_out(agents[0], inst, None))
    assert link.uploads == [b""]  # nothing copied: the disk stays in the pool
    asyncio.run(migration._download_root(agents[1], inst))
    assert sorted(p.name for p in (target / UUID).iterdir()) == []  # no local root file
    # a resize grows the disk in the pool
    asyncio.run(guest_disks.resize(source / UUID, {"root_gb": 3}))
    assert pool.images[f"{UUID}_disk"]["size"] == 3 << 30


class Destroyer:
    capabilities = {"local_disks": True}

    async def destroy(self, uuid: str, instance_dir: Path) -> None:
        return None


class DeleteLink:
    async def release_devices(self, host: str, uuid: str) -> None:
        return None

    async def volume_disks(self, host: str, uuids: list[str]) -> dict[str, list[Any]]:
        return {}


@pytest.mark.parametrize("task,args,kept", [
    (states.REBUILDING, {"evacuated_from": "a"}, True),  # shared storage: the data stays
    (states.REBUILDING, {}, False),  # re-imaged: made again from the image
    (states.DELETING, {}, False),
])
def test_evacuation_keeps_the_rbd_root_rebuild_and_delete_remove_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, task: str, args: dict[str, Any],
        kept: bool) -> None:
    pool = Pool({"images/img1@snap"})
    agent = ComputeAgent(cast(Any, DeleteLink()), cast(Any, Destroyer()), tmp_path,
                         ceph=CephClient(images_type="rbd"))
    assert agent.disks is not None and agent.disks.rbd is not None
    agent.disks.rbd = disks(pool, monkeypatch)
    asyncio.run(agent.disks.rbd.create(UUID, "img1", "raw", 1, no_base))

    async def start(inst: InstanceWork) -> None:
        assert (f"{UUID}_disk" in pool.images) == kept  # before the guest is made again

    monkeypatch.setattr(agent, "_start", start)
    inst = InstanceWork(uuid=UUID, project_id="p", host="b", name="s", hostname="s",
                        vm_state="active", task_state=task, power_state=1,
                        image_ref="img1", config_drive=None, task_args=args)
    asyncio.run(agent._do(task, inst, None))
    assert (f"{UUID}_disk" in pool.images) == kept
