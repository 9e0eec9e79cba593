"""Ceph benchmark: the rbd volume backend and image store beside the file ones, one run.

    sudo .venv/bin/python bench/ceph.py [--image-mib 1024] [--write-mib 256] [--data-mib 256]
                                        [--repeat 3]

Root, with ceph-mon, ceph-osd, ceph-common, qemu-utils, qemu-block-extra and
qemu-system-x86 installed. It starts a throwaway cluster of its own (tests/support/ceph.py:
one monitor, one BlueStore OSD on a sparse file, loopback) and measures, side by side:

1. **Volume from an image** of ``--image-mib`` random bytes (raw): the file backend copies
   it (``FileVolumeDriver.copy_image_to_volume``: the image checks, then ``qemu-img
   convert`` into a qcow2 volume); the rbd backend clones it (the image uploaded to the rbd
   image store, then ``RbdVolumeDriver.clone_image``: ``rbd clone`` of its snapshot, grown,
   renamed); the rbd backend's copy path (``rbd import``) for reference. Uploads timed too.
2. **Sequential writes** through QEMU's block layer, as a guest's virtio disk reaches its
   volume: ``qemu-img bench -w -t none -s 1M -d 1`` (one 1 MiB write in flight, as ``dd
   bs=1M``) over ``--write-mib`` of a new 1 GiB volume, file (qcow2) and rbd. Not from inside
   a guest: the test guests run under TCG here, where a guest's dd measures the emulator.
3. **Live migration** between two QEMU drivers on this machine (tcg, 64 MiB guest) of a guest
   with a 1 GiB volume holding ``--data-mib`` written: on rbd (shared: nothing copied) and,
   as a file volume would have to go, a local disk of the same content mirrored over NBD.
   From ``live_migrate`` to the target running.

The cluster, volumes, images and guests are removed at the end, also on failure. Results:
a markdown report on stdout (with the load average before and after) and
bench/out/ceph-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.ceph import CephCluster

from onestack.drivers.blob import FilesystemBlobStore
from onestack.drivers.blob.rbd import RbdBlobStore
from onestack.drivers.storage import FileVolumeDriver, RbdVolumeDriver
from onestack.drivers.storage.ceph_conf import parse_mon_host
from onestack.drivers.virt.base import DiskSpec, GuestSpec, PowerState, RbdSource
from onestack.drivers.virt.qemu import QemuDriver

MiB = 1024 * 1024
CHUNK = 4 * MiB


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    started = time.monotonic()
    await fn()
    return time.monotonic() - started


async def chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as fh:
        while block := await asyncio.to_thread(fh.read, CHUNK):
            yield block


def qemu_img_bench(target: str, fmt: str, mib: int) -> float:
    """MiB/s of ``mib`` sequential 1 MiB writes, one in flight, no host cache."""
    out = subprocess.run(["qemu-img", "bench", "-w", "-t", "none", "-s", "1M", "-d", "1",
                          "-c", str(mib), "-f", fmt, target], capture_output=True, text=True,
                         check=True).stdout
    found = re.search(r"Run completed in ([0-9.]+) seconds", out)
    assert found, out
    return mib / float(found.group(1))


def qemu_io_fill(target: str, fmt: str, mib: int) -> None:
    subprocess.run(["qemu-io", "-f", fmt, "-c", f"write -P 0x5a 0 {mib}M", target],
                   capture_output=True, check=True)


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path, ceph: CephCluster) -> None:
        self.args, self.tmp, self.ceph = args, tmp, ceph
        ceph.ceph("osd", "pool", "create", "images", "8")
        ceph.rbd("pool", "init", "images")
        glance = tmp / "glance.keyring"
        glance.write_text(ceph.ceph("auth", "get-or-create", "client.glance", "mon",
                                    "profile rbd", "osd", "profile rbd pool=images"))
        ceph.ceph("auth", "caps", f"client.{ceph.user}", "mon", "profile rbd", "osd",
                  f"profile rbd pool={ceph.pool}, profile rbd-read-only pool=images")
        self.file_store = FilesystemBlobStore(tmp / "images")
        self.rbd_store = RbdBlobStore("images", "glance", ceph.conf, glance)
        self.file = FileVolumeDriver(tmp / "volumes")
        self.rbd = RbdVolumeDriver(ceph.pool, ceph.user, ceph.conf, ceph.keyring)
        self.out: dict[str, Any] = {}

    async def volume_from_image(self) -> None:
        a = self.args
        raw = self.tmp / "image.raw"
        with raw.open("wb") as fh:
            for _ in range(a.image_mib):
                fh.write(os.urandom(MiB))
        key = f"images/{uuid.uuid4()}"
        up_file = await timed(lambda: self.file_store.put(key, chunks(raw)))
        up_rbd = await timed(lambda: self.rbd_store.put(key, chunks(raw)))
        raw.unlink()
        path = self.file_store.path(key)
        url = await self.rbd_store.direct_url(key)
        assert url is not None
        size_gb = -(-a.image_mib // 1024)
        copies, clones, rbd_copies = [], [], []

        def source() -> AsyncIterator[bytes]:
            return self.file_store.get(key)

        for _ in range(a.repeat):
            vid = str(uuid.uuid4())
            copies.append(await timed(functools.partial(
                self.file.copy_image_to_volume, vid, size_gb, "raw", path, source)))
            await self.file.delete(vid)
            clones.append(await timed(functools.partial(self.rbd.clone_image, vid, size_gb,
                                                        url)))
            await self.rbd.delete(vid)
        vid = str(uuid.uuid4())
        rbd_copies.append(await timed(functools.partial(
            self.rbd.copy_image_to_volume, vid, size_gb, "raw", path, source)))
        await self.rbd.delete(vid)
        await self.rbd_store.delete(key)
        await self.file_store.delete(key)
        self.out["volume_from_image"] = {
            "image_mib": a.image_mib, "upload_file_s": up_file, "upload_rbd_s": up_rbd,
            "file_copy_s": copies, "rbd_clone_s": clones, "rbd_copy_s": rbd_copies}

    async def sequential_writes(self) -> None:
        vid = str(uuid.uuid4())
        await self.file.create(vid, 1)
        await self.rbd.create(vid, 1)
        try:
            file_mibs = qemu_img_bench(str(self.file.volume_path(vid)), "qcow2",
                                       self.args.write_mib)
            rbd_mibs = qemu_img_bench(self.rbd.qemu_target(self.rbd.image_name(vid)), "raw",
                                      self.args.write_mib)
        finally:
            await self.file.delete(vid)
            await self.rbd.delete(vid)
        self.out["sequential_write"] = {"mib": self.args.write_mib, "file_mib_s": file_mibs,
                                        "rbd_mib_s": rbd_mibs}

    async def live_migration(self) -> None:
        results = {}
        hosts, ports = parse_mon_host(self.ceph.conf.read_text())
        for kind in ("rbd", "local"):
            vid = str(uuid.uuid4())
            root = self.tmp / f"mig-{kind}"
            drivers = {h: QemuDriver(root / h, accel="tcg") for h in ("a", "b")}
            guest = str(uuid.uuid4())
            specs = {}
            if kind == "rbd":
                await self.rbd.create(vid, 1)
                qemu_io_fill(self.rbd.qemu_target(self.rbd.image_name(vid)), "raw",
                             self.args.data_mib)
            for h in ("a", "b"):
                idir = root / h / guest
                idir.mkdir(parents=True)
                subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2",
                                str(idir / "disk"), "16M"], check=True)
                if kind == "rbd":
                    data = DiskSpec(Path(vid), "raw", "volume", serial="data", rbd=RbdSource(
                        f"{self.ceph.pool}/{self.rbd.image_name(vid)}", hosts, ports,
                        self.ceph.user, str(self.ceph.keyring)))
                else:
                    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2",
                                    str(idir / "data"), "1G"], check=True)
                    if h == "a":
                        qemu_io_fill(str(idir / "data"), "qcow2", self.args.data_mib)
                    data = DiskSpec(idir / "data", "qcow2", "ephemeral")
                specs[h] = GuestSpec(guest, f"mig-{kind}", 1, 64, idir,
                                     [DiskSpec(idir / "disk", "qcow2", "root"), data])
            try:
                await drivers["a"].spawn(specs["a"])
                dest = await drivers["b"].prepare_incoming(specs["b"], "127.0.0.1")
                started = time.monotonic()
                await drivers["a"].live_migrate(guest, dest, 600)
                await drivers["b"].finish_incoming(guest, run=True)
                results[kind] = time.monotonic() - started
                state = (await drivers["b"].get_info(guest)).power_state
                assert state is PowerState.RUNNING, state
            finally:
                for h, d in drivers.items():
                    await d.destroy(guest, specs[h].instance_dir)
                if kind == "rbd":
                    await self.rbd.delete(vid)
                shutil.rmtree(root, ignore_errors=True)
        self.out["live_migration"] = {"data_mib": self.args.data_mib,
                                      "rbd_s": results["rbd"], "local_nbd_s": results["local"]}


def report(out: dict[str, Any]) -> str:
    v, w, m = out["volume_from_image"], out["sequential_write"], out["live_migration"]
    med = statistics.median
    rows = [
        "| measure | file | rbd | rbd / file |", "|---|---|---|---|",
        f"| upload a {v['image_mib']} MiB raw image | {v['upload_file_s']:.1f} s | "
        f"{v['upload_rbd_s']:.1f} s | {v['upload_rbd_s'] / v['upload_file_s']:.2f} |",
        f"| volume from it (median of {len(v['file_copy_s'])}) | copy "
        f"{med(v['file_copy_s']):.2f} s | clone {med(v['rbd_clone_s']):.2f} s | "
        f"{med(v['rbd_clone_s']) / med(v['file_copy_s']):.3f} |",
        f"| (rbd's copy path, for reference) | | copy {med(v['rbd_copy_s']):.2f} s | "
        f"{med(v['rbd_copy_s']) / med(v['file_copy_s']):.2f} |",
        f"| sequential 1 MiB writes, depth 1, {w['mib']} MiB | {w['file_mib_s']:.0f} MiB/s | "
        f"{w['rbd_mib_s']:.0f} MiB/s | {w['rbd_mib_s'] / w['file_mib_s']:.2f} |",
        f"| live migration, 1 GiB volume with {m['data_mib']} MiB written | local disk over "
        f"NBD {m['local_nbd_s']:.2f} s | {m['rbd_s']:.2f} s | "
        f"{m['rbd_s'] / m['local_nbd_s']:.2f} |",
    ]
    return "\n".join([f"load average before {out['load_before']}, after {out['load_after']}",
                      "", *rows])


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--image-mib", type=int, default=1024)
    p.add_argument("--write-mib", type=int, default=256)
    p.add_argument("--data-mib", type=int, default=256)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    out: dict[str, Any] = {"load_before": load(), "started": time.strftime("%FT%TZ")}
    with tempfile.TemporaryDirectory(prefix="onestack-bench-ceph-") as tmp, \
            CephCluster() as ceph:
        bench = Bench(args, Path(tmp), ceph)
        await bench.volume_from_image()
        await bench.sequential_writes()
        await bench.live_migration()
        out.update(bench.out)
    out["load_after"] = load()
    dest = Path(__file__).parent / "out" / f"ceph-{time.strftime('%Y%m%d-%H%M%S')}.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(out, indent=2))
    print(report(out))
    print(f"\n{dest}")


if __name__ == "__main__":
    asyncio.run(main())
