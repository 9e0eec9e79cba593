"""The rbd volume driver against a throwaway Ceph cluster (tests/support/ceph.py), beyond
the contract every driver keeps (test_volume_contract.py): copy-on-write clones,
flattening past the clone depth, image round trips through the disk image checks, Cinder's
rbd connection info without the key, and the failures an operator meets (wrong key,
missing pool, cluster down) ending in a StorageError that names the cause within the
timeout."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from onestack.config import VolumeConfig
from onestack.drivers.storage import DRIVERS, RbdVolumeDriver, StorageError
from onestack.drivers.storage.base import GiB
from onestack.drivers.storage.ceph_conf import parse_mon_host, pool_capacity
from tests.support.ceph import CephCluster, free_port, missing_tools, shared_cluster

PATTERN = 0x5A


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root (ceph-osd on a file in a temp dir)"
    missing = missing_tools() + [t for t in ("qemu-img", "qemu-io") if not shutil.which(t)]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{', '.join(missing)} is required in CI (scripts/setup-env.sh --test "
                        "installs ceph-mon ceph-osd ceph-common qemu-block-extra)")
        return f"needs {', '.join(missing)}"
    if not Path("/usr/lib/x86_64-linux-gnu/qemu/block-rbd.so").exists() and \
            "rbd" not in subprocess.run(["qemu-img", "--help"], capture_output=True,
                                        text=True).stdout:
        if os.environ.get("CI"):
            pytest.fail("QEMU's rbd driver is required in CI (qemu-block-extra)")
        return "needs qemu-block-extra (QEMU's rbd driver)"
    return None


@pytest.fixture(scope="session")
def ceph() -> Iterator[CephCluster]:
    why = _skip_reason()
    if why:
        pytest.skip(why)
    yield shared_cluster()


@pytest.fixture
def driver(ceph: CephCluster) -> RbdVolumeDriver:
    return RbdVolumeDriver(pool=ceph.pool, user=ceph.user, conf=ceph.conf,
                           keyring=ceph.keyring, timeout=5)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def _qemu_io(d: RbdVolumeDriver, vid: str, cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["qemu-io", "-f", "raw", "-c", cmd,
                           d.qemu_target(d.image_name(vid))], capture_output=True, text=True)


def _write(d: RbdVolumeDriver, vid: str, offset: int, pattern: int = PATTERN) -> None:
    proc = _qemu_io(d, vid, f"write -P {pattern} {offset} 64k")
    assert proc.returncode == 0, proc.stderr


def _reads(d: RbdVolumeDriver, vid: str, offset: int, pattern: int = PATTERN) -> bool:
    proc = _qemu_io(d, vid, f"read -P {pattern} {offset} 64k")
    return proc.returncode == 0 and "Pattern verification failed" not in proc.stdout


def _info(d: RbdVolumeDriver, vid: str) -> dict[str, Any]:
    info = run(d.rbd_json("info", d.spec(d.image_name(vid))))
    assert isinstance(info, dict)
    return info


def _images(ceph: CephCluster) -> set[str]:
    return set(ceph.rbd("ls", ceph.pool).split())


def test_registered_and_configured() -> None:
    assert DRIVERS["rbd"] is RbdVolumeDriver
    d = RbdVolumeDriver.from_config(VolumeConfig(driver="rbd", rbd_pool="vols",
                                                 rbd_user="cinder", rbd_keyring="/k"))
    assert (d.pool, d.user, d.keyring, d.max_clone_depth) == ("vols", "cinder", "/k", 5)
    with pytest.raises(StorageError):
        d.image_name("../x")


def test_parsers() -> None:
    assert parse_mon_host("[global]\nmon_host = [v2:10.0.0.1:3300,v1:10.0.0.1:6789], "
                          "10.0.0.2\n") == (["10.0.0.1", "10.0.0.2"], ["6789", "6789"])
    df = {"stats": {"total_bytes": 10 * GiB},
          "pools": [{"name": "volumes", "stats": {"stored": 2 * GiB, "max_avail": 5 * GiB}}]}
    assert pool_capacity(df, "volumes") == (7, 5)
    with pytest.raises(ValueError, match="'images' does not exist"):
        pool_capacity(df, "images")
    with pytest.raises(ValueError, match="ceph-mgr"):
        pool_capacity({"stats": {"total_bytes": 0}, "pools": []}, "volumes")


def test_data_survives_snapshot_clone_extend(driver: RbdVolumeDriver,
                                             ceph: CephCluster) -> None:
    d = driver
    run(d.create("v1", 1))
    assert _info(d, "v1")["size"] == GiB
    _write(d, "v1", 0)
    run(d.create_snapshot("v1", "s1"))
    _write(d, "v1", 0, 0x11)  # later writes do not reach the snapshot
    run(d.create_from_snapshot("s1", "v2", 2))
    info = _info(d, "v2")
    assert info["size"] == 2 * GiB and _reads(d, "v2", 0)
    assert info["parent"]["image"] == "volume-v1"  # copy-on-write, not a copy
    assert info["parent"]["snapshot"] == "snapshot-s1"
    run(d.clone("v2", "v3", 3))
    assert _reads(d, "v3", 0) and _info(d, "v3")["parent"]["image"] == "volume-v2"
    run(d.extend("v1", 4))
    assert _info(d, "v1")["size"] == 4 * GiB and _reads(d, "v1", 0, 0x11)
    run(d.extend("v1", 2))  # never shrinks
    assert _info(d, "v1")["size"] == 4 * GiB
    # the snapshot goes while v2 is cloned from it: v2 is flattened and keeps its data
    run(d.delete_snapshot("s1"))
    assert "parent" not in _info(d, "v2") and _reads(d, "v2", 0) and _reads(d, "v3", 0)
    for vid in ("v3", "v2", "v1"):
        run(d.delete(vid))
    assert not {i for i in _images(ceph) if i.startswith("volume-v")}
    with pytest.raises(StorageError, match="does not exist"):
        run(d.clone("missing", "v9", 1))
    with pytest.raises(StorageError, match="does not exist"):
        run(d.create_from_snapshot("missing", "v9", 1))
    with pytest.raises(StorageError, match="does not exist"):
        run(d.extend("missing", 2))
    assert run(d.exists("v9")) is False


def test_clone_chain_is_flattened_past_max_depth(driver: RbdVolumeDriver) -> None:
    d = driver
    d.max_clone_depth = 1
    run(d.create("c0", 1))
    _write(d, "c0", 0)
    for i in range(1, 3):
        run(d.clone(f"c{i - 1}", f"c{i}", 1))
    assert _info(d, "c1")["parent"]["image"] == "volume-c0"  # depth 1: still a clone
    assert "parent" not in _info(d, "c2")  # depth 2 > 1: flattened
    assert _reads(d, "c2", 0)
    for i in reversed(range(3)):
        run(d.delete(f"c{i}"))
    assert run(d.exists("c0")) is False


def test_image_round_trip(driver: RbdVolumeDriver, ceph: CephCluster,
                          tmp_path: Path) -> None:
    d = driver
    before = _images(ceph)
    data = bytes([PATTERN]) * 65536

    async def chunks() -> AsyncIterator[bytes]:
        yield data

    run(d.copy_image_to_volume("i1", 1, "raw", None, chunks))
    assert _reads(d, "i1", 0) and _info(d, "i1")["size"] == GiB

    async def upload(fmt: str) -> bytes:
        return b"".join([c async for c in d.copy_volume_to_image("i1", fmt)])

    qcow = tmp_path / "out.qcow2"
    qcow.write_bytes(run(upload("qcow2")))
    assert subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"read -P {PATTERN} 0 64k",
                           str(qcow)], capture_output=True).returncode == 0
    async def raw_length() -> int:
        return sum([len(c) async for c in d.copy_volume_to_image("i1", "raw")])

    assert run(raw_length()) == GiB  # streamed from rbd export

    async def first_chunk_only() -> bytes:
        stream = d.copy_volume_to_image("i1", "raw")
        chunk = await anext(stream)
        await stream.aclose()  # the reader gave up: rbd export goes too
        return chunk

    assert run(first_chunk_only())[:65536] == data
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert not [a for a in ps.splitlines() if a.startswith(d.rbd_bin) and " export " in a]
    run(d.copy_image_to_volume("i2", 2, "qcow2", str(qcow), chunks))
    assert _reads(d, "i2", 0) and _info(d, "i2")["size"] == 2 * GiB
    big = tmp_path / "big.raw"
    with big.open("wb") as fh:
        fh.truncate(3 * GiB)
    with pytest.raises(StorageError, match="larger than the volume"):
        run(d.copy_image_to_volume("i3", 1, "raw", str(big), chunks))
    with pytest.raises(StorageError):
        run(d.copy_image_to_volume("i3", 1, "nope", None, chunks))
    for vid in ("i1", "i2"):
        run(d.delete(vid))
    assert _images(ceph) == before  # no volume, no .part image left
    # what a crash mid-import leaves goes when the service starts again
    ceph.rbd("create", "--size", "1", f"{ceph.pool}/volume-i4.part-0123abcd")
    assert d.sweep_partial() == [f"{ceph.pool}/volume-i4.part-0123abcd"]
    assert _images(ceph) == before


def test_images_naming_host_files_never_reach_a_volume(driver: RbdVolumeDriver,
                                                       ceph: CephCluster,
                                                       tmp_path: Path) -> None:
    secret = tmp_path / "host-secret"
    attack = tmp_path / "data-file.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-o",
                    f"data_file={secret},data_file_raw=on", str(attack), "1M"], check=True)
    secret.write_bytes(b"HOST-SECRET" * 1000)
    before = _images(ceph)

    async def chunks() -> AsyncIterator[bytes]:
        yield attack.read_bytes()

    for fmt, path in (("qcow2", str(attack)), ("qcow2", None), ("raw", None)):
        with pytest.raises(StorageError, match="external data file"):
            run(driver.copy_image_to_volume("x1", 1, fmt, path, chunks))
    assert _images(ceph) == before


def test_connection_info_is_cinders_without_the_key(driver: RbdVolumeDriver,
                                                    ceph: CephCluster) -> None:
    info = driver.connection_info("abc")
    assert info == {"driver_volume_type": "rbd", "data": {
        "name": "volumes/volume-abc", "hosts": ["127.0.0.1"], "ports": [info["data"]["ports"][0]],
        "cluster_name": "ceph", "auth_enabled": True, "auth_username": "onestack",
        "secret_type": "ceph", "secret_uuid": None, "volume_id": "abc", "discard": True}}
    assert info["data"]["ports"][0].isdigit()
    key = next(ln.split("=", 1)[1].strip() for ln in ceph.keyring.read_text().splitlines()
           if ln.strip().startswith("key"))
    assert key not in repr(info)


def _fails_fast(d: RbdVolumeDriver, match: str, limit: float) -> None:
    started = time.monotonic()
    with pytest.raises(StorageError, match=match):
        run(d.create("e1", 1))
    assert time.monotonic() - started < limit


def test_wrong_key_missing_pool_and_down_cluster_name_the_cause(
        ceph: CephCluster, driver: RbdVolumeDriver, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.keyring"
    subprocess.run(["ceph-authtool", "--create-keyring", str(wrong), "--gen-key", "-n",
                    f"client.{ceph.user}"], check=True, capture_output=True)
    _fails_fast(RbdVolumeDriver(pool=ceph.pool, user=ceph.user, conf=ceph.conf,
                                keyring=wrong, timeout=3), "cephx key of client.onestack", 20)
    _fails_fast(RbdVolumeDriver(pool="nopool", user=ceph.user, conf=ceph.conf,
                                keyring=ceph.keyring, timeout=3), "pool 'nopool' does not exist",
                20)
    down = tmp_path / "down.conf"
    port = free_port()
    down.write_text(ceph.conf.read_text().replace(
        next(ln for ln in ceph.conf.read_text().splitlines() if ln.startswith("mon_host")),
        f"mon_host = [v2:127.0.0.1:{port}]"))
    _fails_fast(RbdVolumeDriver(pool=ceph.pool, user=ceph.user, conf=down,
                                keyring=ceph.keyring, timeout=3), "unreachable|did not answer",
                20)
    # without a ceph-mgr (this cluster has none) capacity says why it has no numbers
    with pytest.raises(StorageError, match="ceph-mgr"):
        run(driver.capacity_gb())


def test_stopped_cluster_and_complete_teardown(ceph: CephCluster, tmp_path: Path) -> None:
    """A cluster of its own: volumes work, then it stops (both daemons killed, its dir
    gone) and the next call fails within the timeout, naming the cause."""
    own = CephCluster().start()
    conf, keyring = tmp_path / "ceph.conf", tmp_path / "keyring"
    try:
        conf.write_text(own.conf.read_text())
        keyring.write_text(own.keyring.read_text())
        d = RbdVolumeDriver(pool=own.pool, user=own.user, conf=conf, keyring=keyring,
                            timeout=3)
        run(d.create("s1", 1))
        assert run(d.exists("s1")) is True
        pids = own.pids()
    finally:
        own.stop()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists()
    assert not own.dir.exists()
    _fails_fast(d, "unreachable", 20)
    started = time.monotonic()
    assert d.sweep_partial() == []  # logged, not raised: the service still starts
    assert time.monotonic() - started < 20
