"""Shelve and rescue on a real tiny QEMU guest (TCG): a file the guest writes on its disk
survives shelve, offload (the guest and its files gone, the disk only in the shelve image)
and unshelve; a rescued guest boots the rescue image with its own disk as the second disk,
and its own disk again after unrescue.

The guest's user data runs at every boot: it reports, for each of /dev/vda and /dev/vdb,
whether the FAT file system there holds ``marker.txt`` (and what it says), then writes one
to /dev/vda if none was found. The test reads the reports on the console."""

from __future__ import annotations

import base64
import re
import time
import uuid

import openstack
import pytest

from onestack.images.seed import TINY
from tests.api.conftest import connect
from tests.integration.test_compute_qemu import (  # skips where QEMU or root is missing
    _cmdline,
    _pids,
    destroy_guests,
    seed,
    settle,
    start_cloud,
)

pytestmark = [pytest.mark.integration]

USER_DATA = """#!/bin/sh
mkdir -p /mnt/d
found=""
for d in /dev/vda /dev/vdb; do
    [ -b "$d" ] || continue
    if mount -t vfat "$d" /mnt/d 2>/dev/null; then
        if [ -f /mnt/d/marker.txt ]; then
            echo "disk-report $d marker=$(cat /mnt/d/marker.txt)"; found=1
        else
            echo "disk-report $d marker=none"
        fi
        umount /mnt/d
    fi
done
if [ -z "$found" ] && mount -t vfat /dev/vda /mnt/d; then
    echo "@TOKEN@" > /mnt/d/marker.txt
    umount /mnt/d && sync && echo "disk-report wrote marker"
fi
echo "disk-report done"
"""


def reports(conn: openstack.connection.Connection, server_id: str, boots: int,
            timeout: float = 90) -> list[str]:
    """The disk reports of the guest's ``boots``-th boot that its console holds."""
    deadline = time.monotonic() + timeout
    while True:
        out = conn.compute.get_server_console_output(server_id)["output"]
        runs = out.split("disk-report done")
        if len(runs) > boots:
            return re.findall(r"disk-report (.+)", runs[boots - 1])
        assert time.monotonic() < deadline, out[-3000:]
        time.sleep(1)


def qemu_cmdline(uuid: str) -> str:
    pids = _pids(uuid)
    assert len(pids) == 1, pids
    return _cmdline(pids[0])


def test_shelve_and_rescue_keep_the_disk() -> None:
    started = time.monotonic()
    thread, cloud = start_cloud()
    instances = cloud.settings.instances_path
    token = uuid.uuid4().hex

    def lap(what: str) -> None:
        print(f"{what}: {time.monotonic() - started:.1f}s")

    try:
        seed(cloud)
        conn = connect(cloud, "demo")
        image = conn.image.find_image(TINY)
        assert image is not None
        user_data = base64.b64encode(USER_DATA.replace("@TOKEN@", token).encode()).decode()
        server = conn.compute.create_server(name="shelf", image_id=image.id, flavor_id="1",
                                            networks="none", user_data=user_data)
        sid = server.id
        settle(conn, sid, "ACTIVE")
        assert reports(conn, sid, 1) == ["/dev/vda marker=none", "wrote marker"]
        lap("booted, file written")

        # shelve + offload: no guest, no files, the disk in the image; unshelve: it is back
        conn.compute.shelve_server(sid)
        settle(conn, sid, "SHELVED_OFFLOADED")
        assert not _pids(sid) and not (instances / sid).exists()
        lap("shelved and offloaded")
        conn.compute.unshelve_server(sid)
        settle(conn, sid, "ACTIVE")
        assert reports(conn, sid, 1) == [f"/dev/vda marker={token}"]
        assert not list(conn.image.images(name="shelf-shelved"))
        lap("unshelved, file read")

        # rescue: the rescue image boots (no marker on vda), its own disk is vdb
        conn.compute.rescue_server(sid)
        settle(conn, sid, "RESCUE")
        assert reports(conn, sid, 2)[:2] == ["/dev/vda marker=none",
                                             f"/dev/vdb marker={token}"]
        assert "disk.rescue" in qemu_cmdline(sid)
        lap("rescued")
        # unrescue: its own disk boots again (QEMU's command line says; a boot costs time)
        conn.compute.unrescue_server(sid)
        settle(conn, sid, "ACTIVE")
        assert "disk.rescue" not in qemu_cmdline(sid)
        assert not (instances / sid / "disk.rescue").exists()
        lap("unrescued")
        conn.compute.delete_server(sid)
        conn.compute.wait_for_delete(server, interval=0.5, wait=60)
        assert not _pids(sid)
        lap("deleted")
    finally:
        destroy_guests(instances)
        thread.stop()
