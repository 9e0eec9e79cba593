"""Boot from volume (Nova's block_device_mapping_v2) through openstacksdk, on the fake virt
driver: image->volume, an existing volume, a snapshot; delete_on_termination; the root
volume is in-use on the server and is the guest's first disk; no root disk is claimed from
the host; Nova's 400s for bad mappings; failed builds give their volumes back."""

from __future__ import annotations

import json
import time
from typing import Any

import openstack
import pytest

from onestack.drivers.virt.fake import FakeVirtDriver
from tests.api.conftest import Cli, connect, unique
from tests.api.test_compute import nova, wait
from tests.api.test_compute_agent import _image
from tests.api.test_compute_volumes import volume_status
from tests.support.server import RunningCloud

Conn = openstack.connection.Connection


def _image_to_volume(image_id: str, size: int = 1, **extra: Any) -> dict[str, Any]:
    return {"uuid": image_id, "source_type": "image", "destination_type": "volume",
            "boot_index": 0, "volume_size": size, **extra}


def _boot(conn: Conn, bdms: list[dict[str, Any]], **kwargs: Any) -> Any:
    return conn.compute.create_server(name=unique("bfv"), flavor_id="42", networks="none",
                                      block_device_mapping=bdms, **kwargs)


def _raw_server(conn: Conn, server_id: str) -> dict[str, Any]:
    resp = conn.compute.get(f"/servers/{server_id}",
                            microversion="2.79")
    body: dict[str, Any] = resp.json()["server"]
    return body


def _gone(conn: Conn, volume_id: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while conn.block_storage.find_volume(volume_id, ignore_missing=True) is not None:
        assert time.monotonic() < deadline, f"volume {volume_id} is still there"
        time.sleep(0.1)


def _server_gone(conn: Conn, server_id: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while conn.compute.find_server(server_id, ignore_missing=True) is not None:
        assert time.monotonic() < deadline, f"server {server_id} is still there"
        time.sleep(0.05)


def _guest_disks(cloud: RunningCloud, server_id: str) -> list[Any]:
    driver = cloud.runtime.compute_agent.driver
    assert isinstance(driver, FakeVirtDriver)
    return list(driver.guests[server_id].spec.disks)


def _bootable_volume(conn: Conn, image_id: str) -> Any:
    vol = conn.block_storage.create_volume(size=1, image_id=image_id, name=unique("boot"))
    return volume_status(conn, vol.id, "available")


def test_boot_from_image_to_volume(cloud: RunningCloud) -> None:
    conn = connect(cloud, "demo")
    image_id = _image(conn)
    server = _boot(conn, [_image_to_volume(image_id, delete_on_termination=True)])
    server = wait(conn, server.id, "ACTIVE")
    raw = _raw_server(conn, server.id)
    assert raw["image"] == ""  # volume-backed, as Nova shows it
    [attached] = raw["os-extended-volumes:volumes_attached"]
    assert attached["delete_on_termination"] is True
    vol = volume_status(conn, attached["id"], "in-use")
    assert vol.size == 1 and vol.is_bootable
    assert vol.attachments[0]["server_id"] == server.id
    assert vol.attachments[0]["device"] == "/dev/vda"
    assert vol.volume_image_metadata["image_id"] == image_id
    root = _guest_disks(cloud, server.id)[0]
    assert root.kind == "volume" and root.serial == vol.id[:20]
    assert str(root.path).endswith(vol.id + ".qcow2") or vol.id in str(root.path)
    # the flavor's root disk is not taken from the host: no DISK_GB (m1.nano has no other)
    admin = connect(cloud)
    allocs = admin.placement.get(f"/allocations/{server.id}").json()["allocations"]
    [usage] = [a["resources"] for a in allocs.values()]
    assert "DISK_GB" not in usage and usage["MEMORY_MB"] == 128
    # the root volume cannot be detached
    with pytest.raises(openstack.exceptions.BadRequestException, match="root device"):
        conn.compute.delete_volume_attachment(server, vol.id, ignore_missing=False)
    listed = list(conn.compute.volume_attachments(server))
    assert [(a.volume_id, a.device) for a in listed] == [(vol.id, "/dev/vda")]
    # a volume-backed server is not rebuilt onto an image (Nova before 2.93)
    with pytest.raises(openstack.exceptions.BadRequestException, match="volume-backed"):
        conn.compute.rebuild_server(server, image=image_id)
    # another volume goes after the root, and into the guest after it
    data = conn.block_storage.create_volume(size=1, name=unique("data"))
    volume_status(conn, data.id, "available")
    att = conn.compute.create_volume_attachment(server, volume_id=data.id)
    assert att.device == "/dev/vdb"
    volume_status(conn, data.id, "in-use")
    disks = _guest_disks(cloud, server.id)
    assert [d.serial for d in disks if d.kind == "volume"] == [vol.id[:20], data.id[:20]]
    # delete_on_termination: the volume goes with the server
    conn.compute.delete_server(server)
    _server_gone(conn, server.id)
    _gone(conn, vol.id)
    volume_status(conn, data.id, "available")
    conn.block_storage.delete_volume(data.id)
    _gone(conn, data.id)


def test_boot_from_an_existing_volume_and_a_snapshot(cloud: RunningCloud) -> None:
    conn = connect(cloud, "demo")
    image_id = _image(conn)
    vol = _bootable_volume(conn, image_id)
    extra = conn.block_storage.create_volume(size=1, name=unique("data"))
    volume_status(conn, extra.id, "available")
    server = _boot(conn, [
        {"uuid": vol.id, "source_type": "volume", "destination_type": "volume",
         "boot_index": 0},
        {"source_type": "blank", "destination_type": "volume", "volume_size": 2,
         "delete_on_termination": True},
        {"uuid": extra.id, "source_type": "volume", "destination_type": "volume"}])
    wait(conn, server.id, "ACTIVE")
    raw = _raw_server(conn, server.id)
    ids = [v["id"] for v in raw["os-extended-volumes:volumes_attached"]]
    assert ids[0] == vol.id and extra.id in ids and len(ids) == 3
    blank_id = next(i for i in ids if i not in (vol.id, extra.id))
    for vid in ids:
        volume_status(conn, vid, "in-use")
    assert conn.block_storage.get_volume(blank_id).size == 2
    disks = _guest_disks(cloud, server.id)
    assert disks[0].serial == vol.id[:20]
    assert {d.serial for d in disks if d.kind == "volume"} == {i[:20] for i in ids}
    devices = {a.volume_id: a.device for a in conn.compute.volume_attachments(server)}
    assert devices[vol.id] == "/dev/vda" and len(set(devices.values())) == 3
    # the volume is taken: a second server cannot boot from it
    with pytest.raises(openstack.exceptions.BadRequestException, match="available"):
        _boot(conn, [{"uuid": vol.id, "source_type": "volume",
                      "destination_type": "volume", "boot_index": 0}])
    conn.compute.delete_server(server)
    _server_gone(conn, server.id)
    volume_status(conn, vol.id, "available")  # not delete_on_termination: given back
    volume_status(conn, extra.id, "available")
    _gone(conn, blank_id)  # delete_on_termination

    snap = conn.block_storage.create_snapshot(volume_id=vol.id, name=unique("snap"))
    deadline = time.monotonic() + 15
    while conn.block_storage.get_snapshot(snap.id).status != "available":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    server = _boot(conn, [{"uuid": snap.id, "source_type": "snapshot",
                           "destination_type": "volume", "boot_index": 0}])
    wait(conn, server.id, "ACTIVE")
    [made] = [v["id"] for v in
              _raw_server(conn, server.id)["os-extended-volumes:volumes_attached"]]
    made_vol = volume_status(conn, made, "in-use")
    assert made_vol.snapshot_id == snap.id and made_vol.is_bootable
    conn.compute.delete_server(server)
    _server_gone(conn, server.id)
    volume_status(conn, made, "available")  # Nova made it, but did not mark it
    for vid in (made, extra.id):
        conn.block_storage.delete_volume(vid)
    conn.block_storage.delete_snapshot(snap.id)
    deadline = time.monotonic() + 15
    while conn.block_storage.find_snapshot(snap.id, ignore_missing=True) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    conn.block_storage.delete_volume(vol.id)
    for vid in (made, extra.id, vol.id):
        _gone(conn, vid)


def _volume_ids(conn: Conn) -> set[str]:
    return {v.id for v in conn.block_storage.volumes()}


def test_bad_mappings_are_nova_400s(cloud: RunningCloud) -> None:
    conn = connect(cloud, "demo")
    image_id = _image(conn)
    plain = conn.block_storage.create_volume(size=1, name=unique("plain"))
    volume_status(conn, plain.id, "available")
    big = conn.image.create_image(name=unique("big"), data=b"\0" * 1024, disk_format="raw",
                                  container_format="bare", min_disk=3)
    before = _volume_ids(conn)
    missing = "6a1d5f4c-0000-4000-8000-000000000000"
    cases: list[tuple[list[dict[str, Any]], dict[str, Any], str]] = [
        ([{"uuid": missing, "source_type": "volume", "destination_type": "volume",
           "boot_index": 0}], {}, f"failed to get volume {missing}"),
        ([{"uuid": plain.id, "source_type": "volume", "destination_type": "volume",
           "boot_index": 0}], {}, "is not bootable"),
        ([_image_to_volume(big.id, 2)], {}, "smaller than the minimum size"),
        ([_image_to_volume(missing)], {}, f"failed to get image {missing}"),
        ([{"uuid": image_id, "source_type": "image", "destination_type": "volume",
           "boot_index": 0}], {}, "non-zero size"),
        ([{"uuid": missing, "source_type": "snapshot", "destination_type": "volume",
           "boot_index": 0}], {}, f"failed to get snapshot {missing}"),
        ([_image_to_volume(image_id)], {"image_id": image_id}, "both name the root disk"),
        ([{"uuid": plain.id, "source_type": "volume", "destination_type": "volume"}], {},
         "Boot sequence"),
        ([{"source_type": "blank", "destination_type": "volume", "volume_size": 1,
           "boot_index": 0, "uuid": image_id}], {}, "Invalid device UUID"),
        ([{"source_type": "volume", "destination_type": "volume", "boot_index": 0}], {},
         "Missing device UUID"),
        ([{"uuid": image_id, "source_type": "image", "destination_type": "local",
           "boot_index": 1}], {"image_id": image_id}, "Mapping image to local"),
        ([{"uuid": plain.id, "source_type": "volume", "destination_type": "volume",
           "boot_index": 0}], {"min_count": 2, "max_count": 2}, "multiple instances"),
        ([_image_to_volume(image_id, boot_index="x")], {}, "boot_index"),
    ]
    for bdms, extra, message in cases:
        with pytest.raises(openstack.exceptions.BadRequestException, match=message):
            _boot(conn, bdms, **extra)
    with pytest.raises(openstack.exceptions.BadRequestException, match="Missing imageRef"):
        conn.compute.create_server(name=unique("x"), flavor_id="42", networks="none")
    assert _volume_ids(conn) == before  # nothing was made
    assert not [s for s in conn.compute.servers() if s.name.startswith("bfv-")
                and s.status == "BUILD"]
    volume_status(conn, plain.id, "available")
    conn.block_storage.delete_volume(plain.id)
    conn.image.delete_image(big.id)


def test_failed_build_gives_volumes_back(cloud: RunningCloud) -> None:
    conn = connect(cloud)
    image_id = _image(conn)
    huge = conn.compute.create_flavor(name=unique("huge"), ram=10**7, vcpus=1, disk=1)
    project = cloud.accounts["admin"].project_id
    nova(cloud, "PUT", f"/os-quota-sets/{project}", json={"quota_set": {"ram": -1}})
    try:
        vol = _bootable_volume(conn, image_id)
        before = _volume_ids(conn)
        # Nova makes the root volume, no host fits: the server is ERROR and the volume goes
        s = conn.compute.create_server(name=unique("bfv"), flavor_id=huge.id,
                                       networks="none",
                                       block_device_mapping=[_image_to_volume(image_id)])
        wait(conn, s.id, "ERROR")
        deadline = time.monotonic() + 15
        while _volume_ids(conn) != before:
            assert time.monotonic() < deadline, "the volume Nova made is still there"
            time.sleep(0.1)
        assert _raw_server(conn, s.id)["os-extended-volumes:volumes_attached"] == []
        conn.compute.delete_server(s)
        # the user's volume is given back, not deleted
        s2 = conn.compute.create_server(name=unique("bfv"), flavor_id=huge.id,
                                        networks="none", block_device_mapping=[
                                            {"uuid": vol.id, "source_type": "volume",
                                             "destination_type": "volume",
                                             "boot_index": 0}])
        wait(conn, s2.id, "ERROR")
        volume_status(conn, vol.id, "available")
        conn.compute.delete_server(s2)
        _server_gone(conn, s.id)
        _server_gone(conn, s2.id)
        conn.block_storage.delete_volume(vol.id)
        _gone(conn, vol.id)
    finally:
        nova(cloud, "DELETE", f"/os-quota-sets/{project}")
        conn.compute.delete_flavor(huge.id)


def test_a_volume_in_error_fails_the_build(cloud: RunningCloud,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The block storage backend fails to make the root volume: the build ends in ERROR
    with a fault naming the volume, and the volume (in error) is deleted."""
    conn = connect(cloud, "demo")
    image_id = _image(conn)
    driver = cloud.runtime.volume.driver

    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise OSError("the backend is broken")

    monkeypatch.setattr(driver, "copy_image_to_volume", broken)
    before = _volume_ids(conn)
    s = _boot(conn, [_image_to_volume(image_id)])
    server = wait(conn, s.id, "ERROR", timeout=30)
    assert "did not become available" in server.fault["message"]
    deadline = time.monotonic() + 15
    while _volume_ids(conn) != before:
        assert time.monotonic() < deadline, "the volume in error is still there"
        time.sleep(0.1)
    assert _raw_server(conn, s.id)["os-extended-volumes:volumes_attached"] == []
    conn.compute.delete_server(s)
    _server_gone(conn, s.id)


@pytest.mark.sqlite_only
def test_cli_boot_from_volume(cloud: RunningCloud, cli: Cli, tmp_path: Any) -> None:
    """`openstack server create --image IMG --boot-from-volume N` and `--volume VOL`."""
    data = tmp_path / "disk.raw"
    data.write_bytes(b"\0" * 1024)
    img = json.loads(cli.run("image", "create", "--file", str(data), "--disk-format", "raw",
                             "-f", "json", unique("img")).stdout)
    name = unique("bfv")
    created = json.loads(cli.run(
        "server", "create", "--image", img["id"], "--boot-from-volume", "1", "--flavor",
        "m1.nano", "--nic", "none", "--wait", "-f", "json", name).stdout)
    assert created["status"] == "ACTIVE"
    shown = json.loads(cli.run("server", "show", "-f", "json", name).stdout)
    [root] = shown["volumes_attached"]
    vol = json.loads(cli.run("volume", "show", "-f", "json", root["id"]).stdout)
    assert vol["status"] == "in-use" and vol["bootable"] in (True, "true")
    cli.run("server", "delete", "--wait", name)
    # the volume Nova made outlives the server (not delete_on_termination) and boots again
    name2 = unique("bfv")
    json.loads(cli.run("server", "create", "--volume", vol["id"], "--flavor", "m1.nano",
                       "--nic", "none", "--wait", "-f", "json", name2).stdout)
    shown = json.loads(cli.run("server", "show", "-f", "json", name2).stdout)
    assert [v["id"] for v in shown["volumes_attached"]] == [vol["id"]]
    cli.run("server", "delete", "--wait", name2)
    deadline = time.monotonic() + 15
    while json.loads(cli.run("volume", "show", "-f", "json", vol["id"]).stdout)[
            "status"] != "available":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    cli.run("volume", "delete", vol["id"])
    cli.run("image", "delete", img["id"])
