"""Encrypted volumes in real QEMU guests (issue 18's acceptance; TCG here): a guest writes
a token to a LUKS volume of an encrypted type; the volume's file on the host holds no trace
of it (its bytes scanned), only a LUKS header and ciphertext; detached, the volume is
hotplugged into a second guest, which reads the token back. That second guest boots from
an encrypted volume Nova makes from the tiny image (block_device_mapping_v2 with the
encrypted volume_type). QEMU gets each passphrase over QMP as a secret object: it is on no
QEMU command line and in no guest.json. Everything deleted after: no guest, no volume file,
no key left in the key manager."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from onestack.images.seed import TINY
from tests.api.conftest import connect, unique
from tests.integration.test_compute_qemu import destroy_guests, seed, settle, start_cloud
from tests.integration.test_volume_guests import (
    READER,
    WRITER,
    _b64,
    _files,
    console_has,
    gone,
    volume_is,
)

pytestmark = [pytest.mark.integration]
SPEC = {"provider": "luks", "cipher": "aes-xts-plain64", "key_size": 256,
        "control_location": "front-end"}


def _holds(path: Path, needle: bytes) -> bool:
    """Whether the file's bytes contain ``needle`` anywhere: every extent of data read in
    overlapping chunks (holes read as zeros, so they hold nothing)."""
    with path.open("rb", buffering=0) as fh:
        fd, pos, size = fh.fileno(), 0, path.stat().st_size
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                return False
            end = os.lseek(fd, start, os.SEEK_HOLE)
            os.lseek(fd, start, os.SEEK_SET)
            tail = b""
            while start < end:
                chunk = os.read(fd, min(1 << 20, end - start))
                if not chunk:
                    break
                if needle in tail + chunk:
                    return True
                tail, start = chunk[-len(needle):], start + len(chunk)
            pos = end
    return False


def _luks_size(path: Path) -> int:
    """The plaintext size QEMU's luks driver sees (the header is read without a key)."""
    out = subprocess.run(["qemu-img", "info", "--force-share", "--output=json", "-f", "luks",
                          str(path)], check=True, capture_output=True, text=True).stdout
    return int(json.loads(out)["virtual-size"])


def _cmdlines() -> list[bytes]:
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                out.append((proc / "cmdline").read_bytes())
    return out


def test_guest_data_on_an_encrypted_volume_is_ciphertext_on_the_host() -> None:
    thread, cloud = start_cloud()
    instances = cloud.settings.instances_path
    volumes = cloud.settings.volumes_path
    token = f"token-{secrets.token_hex(8)}"
    started = time.monotonic()
    try:
        seed(cloud)
        admin = connect(cloud)
        vtype = admin.block_storage.create_type(name=unique("luks"))
        admin.block_storage.create_type_encryption(vtype, **SPEC)
        conn = connect(cloud, "demo")
        image = conn.image.find_image(TINY)
        vol = conn.block_storage.create_volume(size=1, name=unique("enc"),
                                               volume_type=vtype.name)
        assert vol.is_encrypted
        writer = conn.compute.create_server(
            name="writer", image_id=image.id, flavor_id="1", networks="none",
            user_data=_b64(WRITER.replace("@TOKEN@", token)))
        # the reader boots from an encrypted volume made from the image (its root, a volume,
        # is the first disk with a serial it sees; the hotplugged one the second)
        reader = conn.compute.create_server(
            name="reader", flavor_id="1", networks="none",
            user_data=_b64(READER.replace("@N@", "2")), block_device_mapping=[
                {"uuid": image.id, "source_type": "image", "destination_type": "volume",
                 "boot_index": 0, "volume_size": 1, "delete_on_termination": True,
                 "volume_type": vtype.name}])
        volume_is(conn, vol.id, "available", timeout=180)
        print(f"encrypted volume formatted: {time.monotonic() - started:.1f} s")
        path = volumes / f"volume-{vol.id}.luks"
        assert path.read_bytes()[:6] == b"LUKS\xba\xbe"
        settle(conn, writer.id, "ACTIVE", timeout=180)
        conn.compute.create_volume_attachment(writer, volume_id=vol.id)
        volume_is(conn, vol.id, "in-use")
        console_has(conn, writer.id, f"volume-test: wrote {vol.id[:20]}")
        print(f"written: {time.monotonic() - started:.1f} s")
        key = conn.block_storage.get_volume(vol.id).encryption_key_id
        passphrase = httpx.get(
            f"{cloud.base_url}/key-manager/v1/secrets/{key}/payload",
            headers={"X-Auth-Token": cloud.token("demo"),
                     "Accept": "application/octet-stream"}).content.hex()
        assert len(passphrase) == 64
        # the passphrase is on no command line (QEMU's included) and in no guest.json
        assert not any(passphrase.encode() in c for c in _cmdlines())
        assert not any(_holds(p, passphrase.encode()) for p in instances.rglob("guest.json"))
        conn.compute.delete_volume_attachment(writer, vol.id)
        volume_is(conn, vol.id, "available")
        # the host's file: no trace of what the guest wrote
        assert not _holds(path, token.encode()) and not _holds(path, b"hello.txt") \
            and not _holds(path, b"HELLO   TXT") and not _holds(path, b"DATA       ")

        server = settle(conn, reader.id, "ACTIVE", timeout=240)
        root = volume_is(conn, server.attached_volumes[0]["id"], "in-use")
        assert root.is_encrypted and root.is_bootable
        assert (volumes / f"volume-{root.id}.luks").exists()
        console_has(conn, reader.id, "onestack-tiny login banner: hostname=reader")
        print(f"booted from an encrypted volume: {time.monotonic() - started:.1f} s")
        conn.compute.create_volume_attachment(reader, volume_id=vol.id)
        console_has(conn, reader.id, f"volume-test: read {vol.id[:20]}={token}")
        # grown while in use: QMP block_resize on its luks node grows the container
        r = httpx.post(f"{cloud.base_url}/volume/v3/volumes/{vol.id}/action",
                       json={"os-extend": {"new_size": 2}},
                       headers={"X-Auth-Token": cloud.token("demo"),
                                "OpenStack-API-Version": "volume 3.42"})
        assert r.status_code == 202, r.text
        assert volume_is(conn, vol.id, "in-use").size == 2
        assert _luks_size(path) == 2 * 1024**3
        print(f"encrypted volume guests: {time.monotonic() - started:.1f} s")

        for s in (writer, reader):
            conn.compute.delete_server(s)
        for s in (writer, reader):
            gone(conn.compute.find_server, s.id)
        gone(conn.block_storage.find_volume, root.id)  # delete_on_termination
        volume_is(conn, vol.id, "available")
        conn.block_storage.delete_volume(vol)
        gone(conn.block_storage.find_volume, vol.id)
        assert _files(volumes) == []
        r = httpx.get(f"{cloud.base_url}/key-manager/v1/secrets/{key}",
                      headers={"X-Auth-Token": cloud.token("demo")})
        assert r.status_code == 404
        deadline = time.monotonic() + 30
        while [f for f in _files(instances) if not f.startswith("_base/")]:
            assert time.monotonic() < deadline, _files(instances)
            time.sleep(0.5)
    finally:
        destroy_guests(instances)
        thread.stop()
