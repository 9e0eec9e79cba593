"""Volumes in real QEMU guests (TCG here), through openstacksdk: data a guest writes to a
volume is read by another guest, and by a third from a volume made from a snapshot; a
server boots from a volume made from the tiny image; deleting everything leaves no volume
file and no guest behind.

The guests do the disk work in their user data (the tiny image runs it after its banner):
the writer waits for a disk with a serial (a volume), makes a FAT file system on it, writes
a token and unmounts it; the reader prints the token of every volume it sees, at boot or
hotplugged. Growing an attached volume inside a running guest is in test_compute_qemu.py.
"""

from __future__ import annotations

import base64
import secrets
import time
from pathlib import Path
from typing import Any

import openstack
import pytest

from onestack.images.seed import TINY
from tests.api.conftest import connect, unique
from tests.integration.test_compute_qemu import destroy_guests, seed, settle, start_cloud

pytestmark = [pytest.mark.integration]

Conn = openstack.connection.Connection

# Waits for a disk with a serial (a volume; the root and config drive have none), then FAT
# on it, the token in hello.txt, unmounted and synced.
WRITER = """#!/bin/sh
mkdir -p /mnt/vol
end=$(( $(cut -d. -f1 /proc/uptime) + 300 ))
dev=""
while [ -z "$dev" ]; do
    for b in /sys/block/vd*; do
        s=$(cat "$b/serial" 2>/dev/null)
        [ -n "$s" ] && [ -b "/dev/${b##*/}" ] && dev=/dev/${b##*/} && break
    done
    [ "$(cut -d. -f1 /proc/uptime)" -gt "$end" ] && echo "volume-test: no volume" && exit 1
    [ -z "$dev" ] && sleep 0.5
done
mkdosfs -n DATA "$dev" >/dev/null && mount -t vfat "$dev" /mnt/vol &&
    echo "@TOKEN@" > /mnt/vol/hello.txt && sync && umount /mnt/vol && sync &&
    echo "volume-test: wrote $s"
"""

# Prints hello.txt of every volume it sees (a disk with a serial), until it has seen @N@.
READER = """#!/bin/sh
mkdir -p /mnt/vol
end=$(( $(cut -d. -f1 /proc/uptime) + 300 ))
seen=" "
n=0
while [ "$n" -lt @N@ ] && [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
    for b in /sys/block/vd*; do
        s=$(cat "$b/serial" 2>/dev/null)
        [ -n "$s" ] && [ -b "/dev/${b##*/}" ] || continue
        case "$seen" in *" $s "*) continue ;; esac
        seen="$seen$s "
        n=$((n + 1))
        ok=""
        for try in 1 2 3 4 5; do
            mount -t vfat -o ro "/dev/${b##*/}" /mnt/vol 2>/dev/null && ok=1 && break
            sleep 0.5
        done
        if [ -n "$ok" ]; then
            echo "volume-test: read $s=$(cat /mnt/vol/hello.txt 2>/dev/null || echo missing)"
            umount /mnt/vol
        else
            echo "volume-test: $s has no FAT file system"
        fi
    done
    sleep 0.5
done
"""


def _b64(script: str) -> str:
    return base64.b64encode(script.encode()).decode()


def console_has(conn: Conn, server_id: str, text: str, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = str(conn.compute.get_server_console_output(server_id)["output"])
        if text in out:
            return out
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} is not on the console of {server_id}:\n"
                                 f"{out[-3000:]}")
        time.sleep(1)


def volume_is(conn: Conn, volume_id: str, status: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        vol = conn.block_storage.get_volume(volume_id)
        if vol.status == status:
            return vol
        if time.monotonic() > deadline or vol.status.startswith("error"):
            raise AssertionError(f"volume {volume_id} is {vol.status}, not {status}")
        time.sleep(0.3)


def gone(find: Any, ident: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while find(ident, ignore_missing=True) is not None:
        assert time.monotonic() < deadline, f"{ident} is still there"
        time.sleep(0.3)


def _files(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()) \
        if path.exists() else []


def test_volumes_carry_data_between_guests_and_boot_a_server() -> None:
    thread, cloud = start_cloud()
    instances = cloud.settings.instances_path
    volumes = cloud.settings.volumes_path
    token = f"token-{secrets.token_hex(6)}"
    try:
        seed(cloud)
        conn = connect(cloud, "demo")
        image = conn.image.find_image(TINY)
        # The writer and a server booted from a volume made from the image, at once.
        vol = conn.block_storage.create_volume(size=1, name=unique("data"))
        writer = conn.compute.create_server(
            name="writer", image_id=image.id, flavor_id="1", networks="none",
            user_data=_b64(WRITER.replace("@TOKEN@", token)))
        bfv = conn.compute.create_server(
            name="bfv", flavor_id="1", networks="none", block_device_mapping=[
                {"uuid": image.id, "source_type": "image", "destination_type": "volume",
                 "boot_index": 0, "volume_size": 1, "delete_on_termination": True}])
        volume_is(conn, vol.id, "available")
        settle(conn, writer.id, "ACTIVE")
        conn.compute.create_volume_attachment(writer, volume_id=vol.id)
        volume_is(conn, vol.id, "in-use")
        console_has(conn, writer.id, f"volume-test: wrote {vol.id[:20]}")
        conn.compute.delete_volume_attachment(writer, vol.id)
        volume_is(conn, vol.id, "available")

        # A snapshot and a volume from it; the reader boots with the first volume mapped
        # (a block_device_mapping_v2 data volume) and gets the copy hotplugged.
        snap = conn.block_storage.create_snapshot(volume_id=vol.id, name=unique("snap"))
        reader = conn.compute.create_server(
            name="reader", image_id=image.id, flavor_id="1", networks="none",
            user_data=_b64(READER.replace("@N@", "2")), block_device_mapping=[
                {"uuid": vol.id, "source_type": "volume", "destination_type": "volume"}])
        conn.block_storage.wait_for_status(snap, "available", wait=120)
        copy = conn.block_storage.create_volume(snapshot_id=snap.id, name=unique("copy"))

        server = settle(conn, bfv.id, "ACTIVE", timeout=180)
        assert [v["id"] for v in server.attached_volumes]
        root_id = server.attached_volumes[0]["id"]
        root = volume_is(conn, root_id, "in-use")
        assert root.is_bootable and root.attachments[0]["device"] == "/dev/vda"
        console_has(conn, bfv.id, "onestack-tiny login banner: hostname=bfv")

        settle(conn, reader.id, "ACTIVE", timeout=180)
        volume_is(conn, vol.id, "in-use")
        console_has(conn, reader.id, f"volume-test: read {vol.id[:20]}={token}")
        volume_is(conn, copy.id, "available")
        conn.compute.create_volume_attachment(reader, volume_id=copy.id)
        console_has(conn, reader.id, f"volume-test: read {copy.id[:20]}={token}")

        # Everything deleted: no guest, no volume file.
        for s in (writer, reader, bfv):
            conn.compute.delete_server(s)
        for s in (writer, reader, bfv):
            gone(conn.compute.find_server, s.id)
        gone(conn.block_storage.find_volume, root_id)  # delete_on_termination
        for v in (vol, copy):
            volume_is(conn, v.id, "available")
        conn.block_storage.delete_snapshot(snap)
        gone(conn.block_storage.find_snapshot, snap.id)
        for v in (vol, copy):
            conn.block_storage.delete_volume(v)
        for v in (vol, copy):
            gone(conn.block_storage.find_volume, v.id)
        assert _files(volumes) == []
        deadline = time.monotonic() + 30
        while [f for f in _files(instances) if not f.startswith("_base/")]:
            assert time.monotonic() < deadline, _files(instances)
            time.sleep(0.5)
    finally:
        destroy_guests(instances)
        thread.stop()
