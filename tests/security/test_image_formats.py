"""Host files through a disk image (CVE-2024-32498): a tenant's qcow2 whose header names a
host file as its external data file (or backing file) is refused at upload and import, and
an image already in the store is refused by the converting host before qemu-img reads it,
so no host byte ever lands in a volume the tenant can read back."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import openstack
import pytest
from openstack import exceptions as exc

from tests.api.conftest import cloud, connect, pg_server, unique  # noqa: F401 (API clouds)
from tests.support.server import RunningCloud

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None,
                                reason="qemu-img is not installed")
MARKER = b"ONESTACK-HOST-SECRET-"


@pytest.fixture
def host_file(tmp_path: Path) -> Path:
    """A file on the host the tenant must never read."""
    path = tmp_path / "host-secret"
    path.write_bytes(MARKER * 4096)
    return path


def data_file_qcow2(tmp_path: Path, target: Path) -> Path:
    path = tmp_path / unique("attack")
    keep = target.read_bytes()
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-o",
                    f"data_file={target},data_file_raw=on", str(path), "1M"], check=True)
    target.write_bytes(keep)  # qemu-img create truncates the data file
    return path


def backed_qcow2(tmp_path: Path, target: Path) -> Path:
    path = tmp_path / unique("backed")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                    str(target), str(path), "1M"], check=True)
    return path


def _demo(c: RunningCloud) -> openstack.connection.Connection:
    return connect(c, "demo")


def _image_api(c: RunningCloud) -> tuple[str, dict[str, str]]:
    return f"{c.base_url}/image/v2", {"X-Auth-Token": c.token("demo")}


def _wait(get: Any, want: set[str], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = get()
        if got.status in want or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


@pytest.mark.parametrize("disk_format", ["qcow2", "raw"])
def test_upload_of_a_data_file_qcow2_is_refused(cloud: RunningCloud,  # noqa: F811
                                                tmp_path: Path, host_file: Path,
                                                disk_format: str) -> None:
    conn = _demo(cloud)
    for attack, why in ((data_file_qcow2(tmp_path, host_file), "external data file"),
                        (backed_qcow2(tmp_path, host_file), "backing file")):
        img = conn.image.create_image(name=unique("evil"), disk_format=disk_format,
                                      container_format="bare")
        try:
            with pytest.raises(exc.BadRequestException) as err:
                exc.raise_from_response(img.upload(conn.image, data=attack.read_bytes()))
            assert why in str(err.value)
            # Glance's answer: the data is dropped and the image stays queued.
            got = conn.image.get_image(img.id)
            assert got.status == "queued" and not got.size
            blob = cloud.runtime.image.blobs.path(f"images/{img.id}")
            assert blob is not None and not Path(blob).exists()
        finally:
            conn.image.delete_image(img)


def test_the_refusal_is_glances_400_body(cloud: RunningCloud, tmp_path: Path,  # noqa: F811
                                         host_file: Path) -> None:
    url, headers = _image_api(cloud)
    img = httpx.post(f"{url}/images", json={"name": unique("evil"), "disk_format": "qcow2",
                                            "container_format": "bare"},
                     headers=headers).json()
    r = httpx.put(f"{url}/images/{img['id']}/file",
                  content=data_file_qcow2(tmp_path, host_file).read_bytes(),
                  headers={**headers, "Content-Type": "application/octet-stream"})
    assert r.status_code == 400, r.text
    assert r.json()["code"] == 400
    assert "qcow2 images with an external data file are not allowed" in r.json()["message"]
    httpx.delete(f"{url}/images/{img['id']}", headers=headers)


def test_import_of_a_data_file_qcow2_is_refused(cloud: RunningCloud,  # noqa: F811
                                                tmp_path: Path, host_file: Path) -> None:
    url, headers = _image_api(cloud)
    img = httpx.post(f"{url}/images", json={"name": unique("evil"), "disk_format": "qcow2",
                                            "container_format": "bare"},
                     headers=headers).json()
    r = httpx.put(f"{url}/images/{img['id']}/stage",
                  content=data_file_qcow2(tmp_path, host_file).read_bytes(),
                  headers={**headers, "Content-Type": "application/octet-stream"})
    assert r.status_code == 204
    r = httpx.post(f"{url}/images/{img['id']}/import",
                   json={"method": {"name": "glance-direct"}}, headers=headers)
    assert r.status_code == 202
    conn = _demo(cloud)
    got = _wait(lambda: conn.image.get_image(img["id"]), {"queued", "active"})
    assert got.status == "queued"  # the import failed; never active
    conn.image.delete_image(got)


def test_stored_attack_image_never_reaches_a_volume(cloud: RunningCloud,  # noqa: F811
                                                    tmp_path: Path, host_file: Path) -> None:
    """An image stored before the upload check (planted in the blob store here) is
    refused by the volume host before qemu-img converts it: the volume goes to error and
    the host file's bytes are in no volume."""
    conn = _demo(cloud)
    benign = tmp_path / "benign.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(benign), "1M"], check=True)
    img = conn.image.create_image(name=unique("planted"), disk_format="qcow2",
                                  container_format="bare", filename=str(benign), wait=True)
    blob = cloud.runtime.image.blobs.path(f"images/{img.id}")
    assert blob is not None
    volumes = Path(cloud.settings.data_dir) / "volumes"
    try:
        for attack in (data_file_qcow2(tmp_path, host_file),
                       backed_qcow2(tmp_path, host_file)):
            shutil.copyfile(attack, blob)  # the stored bytes are now the attack
            vol = conn.block_storage.create_volume(size=1, image_id=img.id,
                                                   name=unique("loot"))
            got = _wait(lambda vol=vol: conn.block_storage.get_volume(vol.id),
                        {"available", "error"})
            assert got.status == "error"
            assert not (volumes / f"volume-{vol.id}.qcow2").exists()
            for path in volumes.glob("*"):
                assert MARKER not in path.read_bytes(), path
            conn.block_storage.delete_volume(vol)
    finally:
        conn.image.delete_image(img)
