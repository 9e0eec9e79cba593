"""The rbd image store (drivers/blob/rbd.py: Glance's rbd store layout) and its fake
(drivers/blob/rbd_fake.py) keep one contract: streamed uploads hashed on the way, whole and
ranged reads (across RADOS objects and past the ranged-read limit), Glance's ``rbd://``
direct URL, and a delete refused (409) while a clone holds the image. On the shared
throwaway cluster (tests/support/ceph.py): the image is ``images/<id>`` with a protected
snapshot ``snap``; failed uploads and the operator's failures (wrong key, missing pool,
cluster down, cluster full) leave no RBD image and name the cause."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from onestack.drivers.blob import BlobStore
from onestack.drivers.blob import rbd as rbd_blob
from onestack.drivers.blob.base import (
    BlobInUse,
    BlobNotFound,
    BlobTooLarge,
    BlobUnavailable,
)
from onestack.drivers.blob.rbd import RbdBlobStore
from onestack.drivers.blob.rbd_fake import FakeRbdBlobStore
from onestack.drivers.diskimage.rbd_cli import RbdCli
from onestack.drivers.storage import RbdVolumeDriver
from tests.api.conftest import connect, unique
from tests.integration.test_rbd_driver import _skip_reason
from tests.support.ceph import CephCluster, free_port, shared_cluster
from tests.support.server import CloudThread

pytestmark = pytest.mark.integration
IMAGES = "images"
GLANCE = "glance"
MiB = 1024 * 1024


def images_pool(ceph: CephCluster) -> Path:
    """The pool ``images`` and the image service's user ``client.glance`` (Glance's caps) on
    the shared cluster, once; the volume service's user may read the pool (clones), as
    Cinder's does. Returns glance's keyring."""
    keyring = ceph.dir / f"ceph.client.{GLANCE}.keyring"
    if not keyring.exists():
        ceph.ceph("osd", "pool", "create", IMAGES, "8")
        ceph.rbd("pool", "init", IMAGES)
        keyring.touch(mode=0o600)
        keyring.write_text(ceph.ceph("auth", "get-or-create", f"client.{GLANCE}", "mon",
                                     "profile rbd", "osd", f"profile rbd pool={IMAGES}"))
        read_images(ceph, ceph.user)
    return keyring


def read_images(ceph: CephCluster, user: str) -> None:
    """Cinder's and Nova's caps: a volume user, or a compute host's (which opens clones of
    images), may read the images pool."""
    ceph.ceph("auth", "caps", f"client.{user}", "mon", "profile rbd", "osd",
              f"profile rbd pool={ceph.pool}, profile rbd-read-only pool={IMAGES}")


def rbd_store(ceph: CephCluster, **kw: Any) -> RbdBlobStore:
    conf: dict[str, Any] = {"pool": IMAGES, "user": GLANCE, "conf": ceph.conf,
                            "keyring": images_pool(ceph), "timeout": 5, **kw}
    return RbdBlobStore(**conf)


def rbd_images(ceph: CephCluster) -> list[str]:
    images_pool(ceph)
    return list(json.loads(ceph.rbd("ls", "--format", "json", IMAGES)))


@pytest.fixture(scope="session")
def ceph() -> Iterator[CephCluster]:
    why = _skip_reason()
    if why:
        pytest.skip(why)
    yield shared_cluster()


Hold = Callable[[str], Callable[[], None]]


@pytest.fixture(params=["fake", "rbd"])
def store(request: pytest.FixtureRequest) -> Iterator[tuple[BlobStore, Hold]]:
    """The store and ``hold(key)``: a clone of the stored image (returns its undo)."""
    if request.param == "fake":
        fake = FakeRbdBlobStore()

        def hold_fake(key: str) -> Callable[[], None]:
            fake.clone(key, "volume-x")
            return lambda: fake.unclone(key, "volume-x")

        yield fake, hold_fake
        return
    ceph: CephCluster = request.getfixturevalue("ceph")
    real = rbd_store(ceph)

    def hold_rbd(key: str) -> Callable[[], None]:
        child = f"{ceph.pool}/clone-{uuid.uuid4().hex[:8]}"
        ceph.rbd("clone", f"{IMAGES}/{real.name(key)}@snap", child)
        return lambda: ceph.rbd("rm", "--no-progress", child) and None

    yield real, hold_rbd
    assert [n for n in rbd_images(ceph) if ".part-" in n] == []


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def body(data: bytes, piece: int = 256 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i:i + piece]


async def read(store: BlobStore, key: str, offset: int = 0, length: int | None = None
               ) -> bytes:
    return b"".join([c async for c in store.get(key, offset, length)])


def key() -> str:
    return f"images/{uuid.uuid4()}"


def test_upload_read_ranges_and_delete(store: tuple[BlobStore, Hold],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rbd_blob, "RANGED", 6 * MiB)  # longer ranges stream the export
    s, _ = store
    # three RADOS objects, the second a hole of zeros
    data = os.urandom(4 * MiB) + bytes(4 * MiB) + os.urandom(2 * MiB + 5)
    k = key()
    info = run(s.put(k, body(data)))
    assert (info.size, info.md5, info.sha512) == (
        len(data), hashlib.md5(data).hexdigest(), hashlib.sha512(data).hexdigest())
    assert run(s.exists(k)) and run(s.size(k)) == len(data)
    assert run(read(s, k)) == data
    for off, n in ((0, 512), (4 * MiB - 7, 20), (4 * MiB, 4 * MiB + 3), (len(data) - 512, 900),
                   (MiB, 7 * MiB)):
        assert run(read(s, k, off, n)) == data[off:off + n], (off, n)
    run(s.delete(k))
    run(s.delete(k))  # idempotent
    assert not run(s.exists(k))
    with pytest.raises(BlobNotFound):
        run(s.size(k))


def test_empty_and_failed_uploads_store_nothing(store: tuple[BlobStore, Hold]) -> None:
    s, _ = store
    k = key()
    assert run(s.put(k, body(b""))).size == 0
    assert run(read(s, k)) == b""
    run(s.delete(k))
    k = key()
    with pytest.raises(BlobTooLarge):
        run(s.put(k, body(os.urandom(3 * MiB)), max_size=2 * MiB))

    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(MiB)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        run(s.put(k, broken()))
    assert not run(s.exists(k))


def test_direct_url_and_delete_refused_while_cloned(store: tuple[BlobStore, Hold]) -> None:
    s, hold = store
    k = key()
    data = os.urandom(MiB)
    run(s.put(k, body(data)))
    url = run(s.direct_url(k))
    assert url is not None
    fsid, pool, image, snap = url.removeprefix("rbd://").split("/")
    assert (pool, image, snap) == (IMAGES, k.removeprefix("images/"), "snap")
    if isinstance(s, RbdBlobStore):
        ceph = shared_cluster()
        assert fsid == ceph.ceph("fsid").strip()
        snaps = json.loads(ceph.rbd("snap", "ls", "--format", "json", f"{IMAGES}/{image}"))
        assert [(x["name"], x["protected"]) for x in snaps] == [("snap", "true")]
    release = hold(k)
    with pytest.raises(BlobInUse, match="in use") as err:
        run(s.delete(k))
    assert err.value.status == 409
    assert run(read(s, k)) == data  # untouched
    release()
    run(s.delete(k))
    assert not run(s.exists(k))


async def _fails(s: RbdBlobStore, kind: type[Exception], match: str) -> None:
    with pytest.raises(kind, match=match):
        await s.put(key(), body(os.urandom(MiB)))


def test_failures_name_the_cause_and_leave_nothing(ceph: CephCluster, tmp_path: Path) -> None:
    before = rbd_images(ceph)
    wrong = tmp_path / "wrong.keyring"
    subprocess.run(["ceph-authtool", "--create-keyring", str(wrong), "--gen-key", "-n",
                    f"client.{GLANCE}"], check=True, capture_output=True)
    down = tmp_path / "down.conf"
    down.write_text("\n".join(
        f"mon_host = [v2:127.0.0.1:{free_port()}]" if ln.startswith("mon_host") else ln
        for ln in ceph.conf.read_text().splitlines()) + "\n")

    async def all_three() -> None:
        await asyncio.gather(
            _fails(rbd_store(ceph, keyring=wrong, timeout=3), BlobUnavailable,
                   "cephx key of client.glance"),
            _fails(rbd_store(ceph, pool="nopool", timeout=3), BlobUnavailable,
                   "pool 'nopool' does not exist"),
            _fails(rbd_store(ceph, conf=down, timeout=3), BlobUnavailable,
                   "unreachable|did not answer"))

    started = time.monotonic()
    run(all_three())
    assert time.monotonic() - started < 20  # within the timeouts, not librados' 300 s
    assert rbd_images(ceph) == before


def _flagged_full(ceph: CephCluster) -> bool:
    dump = json.loads(ceph.ceph("osd", "dump", "--format", "json"))
    return any("full" in p["flags_names"].split(",") for p in dump["pools"])


def _wait_full(ceph: CephCluster, full: bool) -> None:
    deadline = time.monotonic() + 30
    while _flagged_full(ceph) != full:
        assert time.monotonic() < deadline, f"the cluster's full flag never became {full}"
        time.sleep(0.3)


def set_full(ceph: CephCluster, full: bool) -> None:
    """The OSD's full ratio below what it holds: the monitors flag every pool full once the
    OSD reports it (pool quotas need a ceph-mgr's statistics, which the test cluster has
    not); or the ratios back to Ceph's defaults."""
    ratios = ("0.001", "0.002", "0.003") if full else ("0.85", "0.90", "0.95")
    for what, value in zip(("nearfull", "backfillfull", "full"), ratios, strict=True):
        ceph.ceph("osd", f"set-{what}-ratio", value)


def _volumes(ceph: CephCluster) -> list[str]:
    return [n for n in json.loads(ceph.rbd("ls", "--format", "json", ceph.pool))
            if n.startswith("volume-")]


def test_volume_from_image_is_a_clone(ceph: CephCluster) -> None:
    """Cinder's clone_image: a copy-on-write clone of the image's snapshot, grown to the
    volume (flattened when configured); an image elsewhere is not cloned; the image cannot
    be deleted while the clone exists."""
    store = rbd_store(ceph)
    volumes = RbdVolumeDriver(pool=ceph.pool, user=ceph.user, conf=ceph.conf,
                              keyring=ceph.keyring, timeout=5)
    flat = RbdVolumeDriver(pool=ceph.pool, user=ceph.user, conf=ceph.conf,
                           keyring=ceph.keyring, timeout=5, flatten_from_image=True)
    k, data = key(), os.urandom(3 * MiB)
    run(store.put(k, body(data)))
    url = run(store.direct_url(k))
    assert url is not None
    vid, fid = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        started = time.monotonic()
        assert run(volumes.clone_image(vid, 1, url)) is True
        clone_s = time.monotonic() - started
        info = json.loads(ceph.rbd("info", "--format", "json", f"{ceph.pool}/volume-{vid}"))
        assert info["size"] == 1024**3
        assert (info["parent"]["pool"], info["parent"]["image"], info["parent"]["snapshot"]) \
            == (IMAGES, store.name(k), "snap")
        assert run(read_volume(ceph, vid, len(data))) == data
        assert run(flat.clone_image(fid, 2, url)) is True
        info = json.loads(ceph.rbd("info", "--format", "json", f"{ceph.pool}/volume-{fid}"))
        assert "parent" not in info and info["size"] == 2 * 1024**3
        assert run(read_volume(ceph, fid, len(data))) == data
        # another cluster's image, or not an rbd location: the caller copies
        other = url.replace(url.split("/")[2], str(uuid.uuid4()))
        assert run(volumes.clone_image(str(uuid.uuid4()), 1, other)) is False
        assert run(volumes.clone_image(str(uuid.uuid4()), 1, "file:///x")) is False
        with pytest.raises(BlobInUse):
            run(store.delete(k))
        run(volumes.delete(vid))
        run(store.delete(k))  # the flattened volume does not hold it
        assert run(read_volume(ceph, fid, len(data))) == data
        print(f"volume from a 3 MiB rbd image: clone {clone_s:.2f}s")
    finally:
        for v in (vid, fid):
            run(volumes.delete(v))
        run(store.delete(k))
    assert _volumes(ceph) == []


async def read_volume(ceph: CephCluster, vid: str, n: int) -> bytes:
    cli = RbdCli(ceph.pool, ceph.user, ceph.conf, ceph.keyring, timeout=5)
    out = b""
    async with contextlib.aclosing(cli.export(cli.spec(f"volume-{vid}"))) as stream:
        async for chunk in stream:
            out += chunk
            if len(out) >= n:
                break
    return out[:n]


def purge_images(ceph: CephCluster) -> None:
    """Remove every image of the pool (what a test's cloud left), protected or not."""
    for name in rbd_images(ceph):
        spec = f"{IMAGES}/{name}"
        subprocess.run(["rbd", "--conf", str(ceph.conf), "snap", "unprotect", f"{spec}@snap"],
                       capture_output=True)
        ceph.rbd("snap", "purge", "--no-progress", spec)
        ceph.rbd("rm", "--no-progress", spec)


def _part(ceph: CephCluster, age: float) -> str:
    """A ``.part`` image as an upload started ``age`` seconds ago leaves it."""
    name = f"{uuid.uuid4()}.part-{int(time.time() - age):x}-abcdef"
    ceph.rbd("create", "--size", "1", f"{IMAGES}/{name}")
    return name


def _settled(conn: Any, volume_id: str) -> Any:
    deadline = time.monotonic() + 60
    while (vol := conn.block_storage.get_volume(volume_id)).status in ("creating",
                                                                       "downloading"):
        assert time.monotonic() < deadline, f"volume {volume_id} is still {vol.status}"
        time.sleep(0.3)
    return vol


def _upload(cloud: Any, conn: Any, data: bytes) -> tuple[httpx.Response, Any]:
    """Raw HTTP with a real token: one PUT, not retried on 503 as the SDK's would be."""
    img = conn.image.create_image(name=unique("rbd-fail"), disk_format="raw",
                                  container_format="bare")
    r = httpx.put(f"{cloud.base_url}/image/v2/images/{img.id}/file", content=data,
                  headers={"X-Auth-Token": cloud.token("demo"),
                           "Content-Type": "application/octet-stream"}, timeout=60)
    return r, conn.image.get_image(img.id)


def test_cloud_answers_a_missing_pool_and_a_full_cluster(ceph: CephCluster) -> None:
    """The cloud's start sweeps a stale partial upload (not a young one). Through the API:
    an upload into a missing pool answers 503, into a full cluster 413
    (Glance's StorageFull), each naming the cause, the image killed; a volume on the full
    cluster goes to error with a user message saying so. The API answers meanwhile and
    no RBD image is left."""
    thread = CloudThread()
    s = thread.settings
    s.volume.driver = "rbd"
    s.volume.rbd_pool, s.volume.rbd_user = ceph.pool, ceph.user
    s.volume.rbd_ceph_conf, s.volume.rbd_keyring = str(ceph.conf), str(ceph.keyring)
    s.image.store, s.image.rbd_pool, s.image.rbd_user = "rbd", IMAGES, GLANCE
    s.image.rbd_ceph_conf, s.image.rbd_keyring = str(ceph.conf), str(images_pool(ceph))
    s.volume.rbd_connect_timeout = s.image.rbd_connect_timeout = 5
    before = rbd_images(ceph)
    # a crash's leftover, swept at the cloud's start; a young one may be another process's
    stale, young = _part(ceph, 7200), _part(ceph, 60)
    try:
        cloud = thread.start()
        deadline = time.monotonic() + 30
        while stale in rbd_images(ceph):
            assert time.monotonic() < deadline, f"{stale} was not swept"
            time.sleep(0.3)
        set_full(ceph, True)  # the OSD reports it while the missing pool is tried
        store, driver = cloud.runtime.image.blobs, cloud.runtime.volume.driver
        assert isinstance(store, RbdBlobStore) and isinstance(driver, RbdVolumeDriver)
        store.cli.osd_timeout = driver.osd_timeout = 3  # a full cluster holds writes so long
        conn = connect(cloud, "demo")
        store.cli.pool = "nopool"
        r, img = _upload(cloud, conn, os.urandom(64 * 1024))
        store.cli.pool = IMAGES
        assert r.status_code == 503 and "the pool 'nopool' does not exist" in r.text, r.text
        assert img.status == "killed"
        _wait_full(ceph, True)
        vol = conn.block_storage.create_volume(size=1, name=unique("rbd-full"))
        r, img = _upload(cloud, conn, os.urandom(64 * 1024))
        assert r.status_code == 413, r.text
        assert r.json()["message"].endswith("the pool 'images' is full (the Ceph cluster "
                                            "has no space left for it)"), r.text
        assert img.status == "killed"
        assert conn.block_storage.get("/volumes").status_code == 200
        assert _settled(conn, vol.id).status == "error"
        msgs = conn.block_storage.get("/messages", microversion="3.3").json()["messages"]
        msg = next(m for m in msgs if m["resource_uuid"] == vol.id)
        assert "the pool 'volumes' is full" in msg["user_message"], msg
        assert sorted(rbd_images(ceph)) == sorted([*before, young]) and _volumes(ceph) == []
    finally:
        set_full(ceph, False)
        thread.stop()
        _wait_full(ceph, False)
        ceph.rbd("rm", "--no-progress", f"{IMAGES}/{young}")
