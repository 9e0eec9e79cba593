"""Guests on RBD volumes (real QEMU, TCG here; the throwaway Ceph cluster of
tests/support/ceph.py), through openstacksdk against a cloud whose volume backend is rbd and
whose compute host has a cephx user of its own: a server boots from an RBD volume made from
the tiny image, a second RBD volume is hot-plugged and written by the guest, extended in use
(the guest sees the new size), detached and attached to a second guest, which reads the data
back; the second guest is image-backed with its root disk on RBD (``images_type = rbd``),
a clone of the raw image. The key is in no API response and not in QEMU's argv. Everything
deleted: no guest, no RBD image left in the pool."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from pathlib import Path
from typing import Any

import openstack
import pytest

from onestack.drivers.virt.qemu import QemuDriver
from onestack.drivers.virt.rbd_root import RbdRootDisks
from onestack.images.seed import TINY, TINY_RAW
from tests.api.conftest import connect, unique
from tests.integration.test_compute_qemu import INTERVAL, destroy_guests, seed, settle
from tests.integration.test_rbd_driver import _skip_reason
from tests.integration.test_rbd_image_store import (
    GLANCE,
    IMAGES,
    images_pool,
    purge_images,
    rbd_images,
    read_images,
)
from tests.integration.test_volume_guests import console_has, gone, volume_is
from tests.support.ceph import CephCluster, add_user, shared_cluster
from tests.support.server import CloudThread

pytestmark = [pytest.mark.integration]

Conn = openstack.connection.Connection
COMPUTE_USER = "compute-test"

# Every disk with a serial but the root (vda): written once by the writer (the token in
# its first sector), and reported (serial, size in sectors, first bytes) whenever its size
# changes.
GUEST = """#!/bin/sh
seen=" "
while true; do
    for b in /sys/block/vd*; do
        n=${b##*/}
        [ "$n" = vda ] && continue
        s=$(cat "$b/serial" 2>/dev/null)
        [ -n "$s" ] && [ -b "/dev/$n" ] || continue
        sz=$(cat "$b/size")
        case "$seen" in *" $s:$sz "*) continue ;; esac
        seen="$seen$s:$sz "
        if [ "@MODE@" = write ] && [ ! -e "/tmp/w-$s" ]; then
            echo "@TOKEN@" | dd of="/dev/$n" bs=512 count=1 conv=sync,fsync 2>/dev/null
            touch "/tmp/w-$s"
            echo "rbd-test: wrote $s"
        fi
        echo "rbd-test: $s size=$sz data=$(dd if=/dev/$n bs=1 count=18 2>/dev/null)"
    done
    sleep 0.5
done
"""


@pytest.fixture(scope="module")
def ceph() -> CephCluster:
    why = _skip_reason()
    if why:
        pytest.skip(why)
    return shared_cluster()


def _user_data(mode: str, token: str) -> str:
    return base64.b64encode(GUEST.replace("@MODE@", mode).replace("@TOKEN@", token)
                            .encode()).decode()


def _start(ceph: CephCluster, keyring: Path) -> tuple[CloudThread, Any]:
    thread = CloudThread()
    s = thread.settings
    s.compute.reconcile_interval = INTERVAL
    s.volume.driver = "rbd"
    s.volume.rbd_pool, s.volume.rbd_user = ceph.pool, ceph.user
    s.volume.rbd_ceph_conf, s.volume.rbd_keyring = str(ceph.conf), str(ceph.keyring)
    s.volume.rbd_connect_timeout = 5
    # the compute host's own cephx user, not the volume service's
    s.compute.rbd_user, s.compute.rbd_keyring = COMPUTE_USER, str(keyring)
    # root disks on RBD (Nova's images_type = rbd), in the volume pool
    s.compute.images_type, s.compute.images_rbd_pool = "rbd", ceph.pool
    s.compute.images_rbd_ceph_conf = str(ceph.conf)
    # images on RBD too: a volume from the raw image is a clone of it
    s.image.store, s.image.rbd_pool, s.image.rbd_user = "rbd", IMAGES, GLANCE
    s.image.rbd_ceph_conf, s.image.rbd_keyring = str(ceph.conf), str(images_pool(ceph))
    s.image.rbd_connect_timeout = 5
    thread.virt_driver = QemuDriver(instances_dir=s.instances_path)
    return thread, thread.start()


def _images(ceph: CephCluster) -> list[str]:
    return [n for n in json.loads(ceph.rbd("ls", "--format", "json", ceph.pool))
            if n.startswith("volume-")]


def _keys(ceph: CephCluster, *keyrings: Path) -> list[str]:
    return [line.split("=", 1)[1].strip() for k in keyrings
            for line in k.read_text().splitlines() if line.strip().startswith("key")]


def _argv(instances: Path, uuid: str) -> bytes:
    pid = int((instances / uuid / "qemu.pid").read_text().split()[0])
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def test_guests_boot_from_hotplug_extend_and_share_rbd_volumes(ceph: CephCluster) -> None:
    keyring = add_user(ceph, COMPUTE_USER)
    read_images(ceph, COMPUTE_USER)  # it opens the clone of the image the root volume is
    keys = _keys(ceph, keyring, ceph.keyring)
    thread, cloud = _start(ceph, keyring)
    instances = cloud.settings.instances_path
    token = f"token-{secrets.token_hex(6)}"
    try:
        seed(cloud)
        conn = connect(cloud, "demo")
        image = conn.image.find_image(TINY)
        raw = conn.image.find_image(TINY_RAW)
        assert sorted(rbd_images(ceph)) == sorted([image.id, raw.id])  # uploads went to RBD
        t0 = time.monotonic()
        data = conn.block_storage.create_volume(size=1, name=unique("rbd-data"))
        a = conn.compute.create_server(
            name="rbd-a", flavor_id="1", networks="none", user_data=_user_data("write", token),
            block_device_mapping=[
                {"uuid": raw.id, "source_type": "image", "destination_type": "volume",
                 "boot_index": 0, "volume_size": 1, "delete_on_termination": True}])
        # image-backed: its root disk is an RBD clone of the raw image (images_type rbd)
        b = conn.compute.create_server(name="rbd-b", image_id=raw.id, flavor_id="1",
                                       networks="none", user_data=_user_data("read", ""))
        volume_is(conn, data.id, "available")
        server = settle(conn, a.id, "ACTIVE", timeout=180)
        boot_s = time.monotonic() - t0
        root_id = server.attached_volumes[0]["id"]
        console_has(conn, a.id, "onestack-tiny login banner: hostname=rbd-a")
        # the root volume is a copy-on-write clone of the image, which cannot go meanwhile
        parent = json.loads(ceph.rbd("info", "--format", "json",
                                     f"{ceph.pool}/volume-{root_id}"))["parent"]
        assert (parent["pool"], parent["image"], parent["snapshot"]) == (IMAGES, raw.id, "snap")
        admin = connect(cloud, "admin")
        r = admin.image.delete(f"/images/{raw.id}")
        assert r.status_code == 409 and "in use" in r.text, r.text
        assert admin.image.get_image(raw.id).status == "active"

        t1 = time.monotonic()
        conn.compute.create_volume_attachment(a, volume_id=data.id)
        vol = volume_is(conn, data.id, "in-use")
        attach_s = time.monotonic() - t1
        serial = data.id[:20]
        console_has(conn, a.id, f"rbd-test: wrote {serial}")
        console_has(conn, a.id, f"rbd-test: {serial} size=2097152 data={token}")

        # Cinder's rbd connection info (in full to admins), with the volume service's user
        # and no key anywhere
        att_path = f"/attachments/{vol.attachments[0]['attachment_id']}"
        att = admin.block_storage.get(att_path, microversion="3.27").json()["attachment"]
        mine = conn.block_storage.get(att_path, microversion="3.27").json()["attachment"]
        assert mine["connection_info"]["driver_volume_type"] == "rbd"
        assert "hosts" not in mine["connection_info"]["data"]
        info = att["connection_info"]
        assert info["driver_volume_type"] == "rbd"
        assert info["data"]["name"] == f"{ceph.pool}/volume-{data.id}"
        assert info["data"]["auth_username"] == ceph.user
        assert info["data"]["hosts"] == [ceph.ip] and info["data"]["ports"]
        bodies = [json.dumps(att), json.dumps(mine), json.dumps(conn.block_storage.get(
            f"/volumes/{data.id}").json()), json.dumps(conn.compute.get(
                f"/servers/{a.id}/os-volume_attachments").json())]
        for key in keys:
            assert not any(key in body for body in bodies)
            assert key.encode() not in _argv(instances, a.id)
        assert b"rbd" not in _argv(instances, a.id)  # no rbd disk on the command line

        # extended while in use: the guest sees 2 GiB
        r = conn.block_storage.post(f"/volumes/{data.id}/action",
                                    json={"os-extend": {"new_size": 2}}, microversion="3.42")
        assert r.status_code == 202, r.text
        console_has(conn, a.id, f"rbd-test: {serial} size=4194304 data={token}")
        assert volume_is(conn, data.id, "in-use").size == 2

        # detached from a, attached to b: b reads what a wrote
        conn.compute.delete_volume_attachment(a, data.id)
        volume_is(conn, data.id, "available")
        settle(conn, b.id, "ACTIVE", timeout=180)
        b_disk = f"{b.id}_disk"
        assert f"{ceph.pool}/{b_disk}" in ceph.rbd("children", f"{IMAGES}/{raw.id}@snap")
        assert not (instances / b.id / "disk").exists()  # no local root file
        assert b"rbd" not in _argv(instances, b.id)
        conn.compute.create_volume_attachment(b, volume_id=data.id)
        console_has(conn, b.id, f"rbd-test: {serial} size=4194304 data={token}")
        # a snapshot of b reads its root disk from the pool (qemu-img over librbd)
        shot = conn.compute.create_server_image(b, f"rbd-root-{secrets.token_hex(3)}",
                                                wait=True, timeout=240)
        shot = conn.image.wait_for_status(conn.image.get_image(shot.id), "active", wait=240)
        assert (shot.size or 0) > 0 and shot.disk_format == "qcow2", shot
        conn.image.delete_image(shot)
        settle(conn, b.id, "ACTIVE", timeout=60)
        # the driver alone: a root disk cloned from the raw image, timed
        probe = f"probe-{secrets.token_hex(4)}"
        disks = RbdRootDisks(ceph.pool, COMPUTE_USER, str(ceph.conf), str(keyring), IMAGES)
        t2 = time.monotonic()
        assert asyncio.run(disks.create(probe, raw.id, "raw", 1, _no_base))
        clone_s = time.monotonic() - t2
        assert asyncio.run(disks.parent(probe)) == f"{IMAGES}/{raw.id}@snap"
        asyncio.run(disks.remove(probe))
        assert not asyncio.run(disks.exists(probe))
        print(f"rbd guests: boot from volume {boot_s:.1f}s, hot-plug {attach_s:.1f}s, "
              f"root disk clone {clone_s:.2f}s")

        for s in (a, b):
            conn.compute.delete_server(s)
        for s in (a, b):
            gone(conn.compute.find_server, s.id)
        gone(conn.block_storage.find_volume, root_id)
        conn.block_storage.delete_volume(volume_is(conn, data.id, "available"))
        gone(conn.block_storage.find_volume, data.id)
        assert _images(ceph) == []
        assert b_disk not in _all(ceph)  # b's root disk went with it
        admin.image.delete_image(raw)  # its clone has gone with the server
        assert rbd_images(ceph) == [image.id]
    finally:
        destroy_guests(instances)
        thread.stop()
        ceph.ceph("auth", "del", f"client.{COMPUTE_USER}")
        keyring.unlink(missing_ok=True)
        for name in _images(ceph) + [n for n in _all(ceph) if n.endswith("_disk")]:
            ceph.rbd("rm", "--no-progress", f"{ceph.pool}/{name}")  # what a failed run left
        purge_images(ceph)  # this cloud's images


async def _no_base() -> Path:
    raise AssertionError("a raw image on the rbd store is cloned, not fetched")


def _all(ceph: CephCluster) -> list[str]:
    return list(json.loads(ceph.rbd("ls", "--format", "json", ceph.pool)))
