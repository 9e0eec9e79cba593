"""A backup restored into a new volume holds the bytes a guest wrote (issue 17's
acceptance): a real QEMU guest (TCG here) writes a token to an attached volume; the volume,
detached, is backed up into the object store; the backup is restored into a new volume,
which is hotplugged into the same guest, and the guest reads the token back from it.
(Backing up the volume while attached fails on the file backend: QEMU holds its lock, and
a shared-mode copy missed the guest's synced writes.) Everything is deleted after: no
guest, no volume file, no backup object."""

from __future__ import annotations

import secrets
import time

import httpx
import pytest

from onestack.images.seed import TINY
from tests.api.conftest import connect, unique
from tests.integration.test_compute_qemu import destroy_guests, seed, settle, start_cloud
from tests.integration.test_volume_guests import (
    READER,
    WRITER,
    Conn,
    _b64,
    _files,
    console_has,
    gone,
    volume_is,
)

pytestmark = [pytest.mark.integration]


def _backup_is(conn: Conn, backup_id: str, status: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        b = conn.block_storage.get_backup(backup_id)
        if b.status == status:
            return
        assert time.monotonic() < deadline and b.status != "error", (b.status, b.fail_reason)
        time.sleep(0.3)


def test_restored_backup_holds_what_a_guest_wrote() -> None:
    thread, cloud = start_cloud()
    instances = cloud.settings.instances_path
    volumes = cloud.settings.volumes_path
    token = f"token-{secrets.token_hex(6)}"
    # write the token to the first volume, then print the token of every volume seen
    script = WRITER.replace("@TOKEN@", token) + READER.replace("#!/bin/sh", "").replace(
        "@N@", "2")
    try:
        seed(cloud)
        conn = connect(cloud, "demo")
        image = conn.image.find_image(TINY)
        vol = conn.block_storage.create_volume(size=1, name=unique("data"))
        guest = conn.compute.create_server(name="writer", image_id=image.id, flavor_id="1",
                                           networks="none", user_data=_b64(script))
        volume_is(conn, vol.id, "available")
        settle(conn, guest.id, "ACTIVE", timeout=180)
        conn.compute.create_volume_attachment(guest, volume_id=vol.id)
        console_has(conn, guest.id, f"volume-test: wrote {vol.id[:20]}")

        conn.compute.delete_volume_attachment(guest, vol.id)
        volume_is(conn, vol.id, "available")
        backup = conn.block_storage.create_backup(volume_id=vol.id, name=unique("bk"))
        _backup_is(conn, backup.id, "available")
        # the token's chunks were stored (more than the metadata and sha256 objects)
        assert conn.block_storage.get_backup(backup.id).object_count > 2
        restored = conn.block_storage.restore_backup(backup, name=unique("restored"))
        new_id = restored["volume_id"]
        _backup_is(conn, backup.id, "available")
        volume_is(conn, new_id, "available")
        conn.compute.create_volume_attachment(guest, volume_id=new_id)
        console_has(conn, guest.id, f"volume-test: read {new_id[:20]}={token}")

        conn.compute.delete_server(guest)
        gone(conn.compute.find_server, guest.id)
        conn.block_storage.delete_backup(backup)
        gone(conn.block_storage.find_backup, backup.id)
        for v in (vol.id, new_id):
            volume_is(conn, v, "available")
            conn.block_storage.delete_volume(v)
        for v in (vol.id, new_id):
            gone(conn.block_storage.find_volume, v)
        assert _files(volumes) == []
        listing = httpx.get(
            f"{cloud.base_url}/object-storage/v1/AUTH_{conn.current_project_id}/"
            "volumebackups", headers={"X-Auth-Token": cloud.token("demo")})
        assert listing.status_code in (200, 204) and not listing.text.strip(), listing.text
    finally:
        destroy_guests(instances)
        thread.stop()
