"""Volumes on servers (os-volume_attachments) through openstacksdk and the CLI: the volume
goes in-use and shows on the server, the guest's disks follow, detach makes it available,
another project cannot touch it, and server delete gives it back (or deletes it when asked)."""

from __future__ import annotations

import time
from typing import Any

import openstack
import pytest

from onestack.drivers.virt.fake import FakeVirtDriver
from tests.api.conftest import Cli, connect, unique
from tests.api.test_compute import wait
from tests.api.test_compute_agent import _image
from tests.support.server import RunningCloud


def volume_status(conn: openstack.connection.Connection, volume_id: str, status: str,
                  timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        vol = conn.block_storage.get_volume(volume_id)
        if vol.status == status:
            return vol
        if time.monotonic() > deadline:
            raise AssertionError(f"volume {volume_id} is {vol.status}, not {status}")
        time.sleep(0.1)


def _server(conn: openstack.connection.Connection) -> Any:
    s = conn.compute.create_server(name=unique("vm"), image_id=_image(conn), flavor_id="42",
                                   networks="none")
    return wait(conn, s.id, "ACTIVE")


def _volume(conn: openstack.connection.Connection) -> Any:
    vol = conn.block_storage.create_volume(size=1, name=unique("vol"))
    return volume_status(conn, vol.id, "available")


def _guest_serials(cloud: RunningCloud, server_id: str) -> list[str | None]:
    driver = cloud.runtime.compute_agent.driver
    assert isinstance(driver, FakeVirtDriver)
    return [d.serial for d in driver.guests[server_id].spec.disks if d.kind == "volume"]


def test_attach_and_detach_a_volume(cloud: RunningCloud) -> None:
    conn = connect(cloud, "demo")
    server, vol = _server(conn), _volume(conn)
    att = conn.compute.create_volume_attachment(server, volume_id=vol.id)
    assert att.volume_id == vol.id and att.device == "/dev/vdb"
    in_use = volume_status(conn, vol.id, "in-use")
    assert in_use.attachments[0]["server_id"] == server.id
    assert _guest_serials(cloud, server.id) == [vol.id[:20]]
    shown = conn.compute.get_server(server.id)
    assert [v["id"] for v in shown.attached_volumes] == [vol.id]
    listed = list(conn.compute.volume_attachments(server))
    assert [a.volume_id for a in listed] == [vol.id]

    # bad input: twice, unknown volume, unknown attachment
    with pytest.raises(openstack.exceptions.BadRequestException, match="already attached"):
        conn.compute.create_volume_attachment(server, volume_id=vol.id)
    with pytest.raises(openstack.exceptions.NotFoundException, match="could not be found"):
        conn.compute.create_volume_attachment(server, volume_id="00000000-0000-0000-0000-0")
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.compute.delete_volume_attachment(server, "00000000-0000-0000-0000-000000000000",
                                              ignore_missing=False)
    # an in-use volume cannot be deleted (Cinder's 400)
    with pytest.raises(openstack.exceptions.BadRequestException):
        conn.block_storage.delete_volume(vol.id)

    conn.compute.delete_volume_attachment(server, vol.id)
    volume_status(conn, vol.id, "available")
    deadline = time.monotonic() + 5
    while _guest_serials(cloud, server.id):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert conn.compute.get_server(server.id).attached_volumes == []
    conn.compute.delete_server(server)
    conn.block_storage.delete_volume(vol.id)


def test_another_project_cannot_use_or_see_the_volume(cloud: RunningCloud) -> None:
    owner, demo = connect(cloud), connect(cloud, "demo")  # two projects; demo is no admin
    server, vol = _server(owner), _volume(owner)
    mine, my_vol = _server(demo), _volume(demo)
    owner.compute.create_volume_attachment(server, volume_id=vol.id)
    volume_status(owner, vol.id, "in-use")
    with pytest.raises(openstack.exceptions.NotFoundException):
        demo.compute.create_volume_attachment(mine, volume_id=vol.id)  # their volume
    with pytest.raises(openstack.exceptions.NotFoundException):
        demo.compute.create_volume_attachment(server, volume_id=my_vol.id)  # their server
    with pytest.raises(openstack.exceptions.NotFoundException):
        demo.compute.delete_volume_attachment(server, vol.id, ignore_missing=False)
    with pytest.raises(openstack.exceptions.NotFoundException):
        list(demo.compute.volume_attachments(server))
    assert demo.block_storage.get_volume(my_vol.id).status == "available"
    # the server goes: its volume is available again, not deleted
    owner.compute.delete_server(server)
    volume_status(owner, vol.id, "available", timeout=20)
    for conn, s, v in ((owner, None, vol), (demo, mine, my_vol)):
        if s is not None:
            conn.compute.delete_server(s)
        conn.block_storage.delete_volume(v.id)


def test_delete_on_termination_and_the_cli(cloud: RunningCloud, tmp_path: Any) -> None:
    conn = connect(cloud, "demo")
    server, vol, keep = _server(conn), _volume(conn), _volume(conn)
    conn.compute.create_volume_attachment(server, volume_id=vol.id,
                                          delete_on_termination=True)
    volume_status(conn, vol.id, "in-use")
    cli = Cli(cloud)
    out = cli.raw("--os-cloud", "onestack-demo", "server", "add", "volume", server.id, keep.id)
    assert out.returncode == 0, out.stderr
    volume_status(conn, keep.id, "in-use")
    out = cli.raw("--os-cloud", "onestack-demo", "server", "volume", "list", server.id)
    assert out.returncode == 0 and vol.id in out.stdout and keep.id in out.stdout, out.stderr
    out = cli.raw("--os-cloud", "onestack-demo", "server", "remove", "volume", server.id,
                  keep.id)
    assert out.returncode == 0, out.stderr
    volume_status(conn, keep.id, "available")
    conn.compute.delete_server(server)
    deadline = time.monotonic() + 20
    while conn.block_storage.find_volume(vol.id, ignore_missing=True) is not None:
        assert time.monotonic() < deadline, "delete_on_termination volume still there"
        time.sleep(0.2)
    assert conn.block_storage.get_volume(keep.id).status == "available"
    conn.block_storage.delete_volume(keep.id)
