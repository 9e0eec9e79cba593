"""Shelve, shelve offload, unshelve, rescue, unrescue and resize revert through openstacksdk,
raw HTTP and the `openstack` CLI (fake virt driver): the states Nova shows, the shelve
image, the host's allocation given back and claimed again, Nova's 409s, 400s and policy."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import openstack
import pytest
from openstack import exceptions as exc

from tests.api.conftest import Cli, connect, unique
from tests.api.test_compute import nova, wait
from tests.support.server import RunningCloud


@pytest.fixture(scope="module")
def image_id(cloud: RunningCloud) -> str:
    img = connect(cloud).image.create_image(name=unique("img"), data=b"\0" * 1024,
                                            disk_format="raw", container_format="bare",
                                            visibility="public")
    return str(img.id)


@pytest.fixture
def server(cloud: RunningCloud, demo: openstack.connection.Connection,
           image_id: str) -> Iterator[Any]:
    s = demo.compute.create_server(name=unique("vm"), image_id=image_id, flavor_id="42",
                                   networks="none")
    yield wait(demo, s.id, "ACTIVE")
    with contextlib.suppress(exc.SDKException):
        connect(cloud).compute.delete_server(s.id, force=True)


def act(cloud: RunningCloud, server_id: str, body: Any, who: str = "demo",
        version: str = "2.79") -> httpx.Response:
    return nova(cloud, "POST", f"/servers/{server_id}/action", who=who, version=version,
                json=body)


def allocations(cloud: RunningCloud, consumer: str) -> dict[str, dict[str, int]]:
    r = httpx.get(f"{cloud.base_url}/placement/allocations/{consumer}",
                  headers={"X-Auth-Token": cloud.token("admin"),
                           "OpenStack-API-Version": "placement 1.28"})
    return {rp: a["resources"] for rp, a in r.json()["allocations"].items()}


def conflict(r: httpx.Response) -> str:
    assert r.status_code == 409, r.text
    return str(r.json()["conflictingRequest"]["message"])


def bad(r: httpx.Response) -> str:
    assert r.status_code == 400, r.text
    return str(r.json()["badRequest"]["message"])


def test_shelve_offload_unshelve(cloud: RunningCloud, demo: openstack.connection.Connection,
                                 admin: openstack.connection.Connection, server: Any) -> None:
    before = allocations(cloud, server.id)
    assert before
    demo.compute.shelve_server(server.id)
    # [compute] shelved_offload_time = 0: offloaded at once, the host's claim given back
    wait(demo, server.id, "SHELVED_OFFLOADED")
    shown = admin.compute.get_server(server.id)
    assert shown.compute_host is None and shown.vm_state == "shelved_offloaded"
    assert allocations(cloud, server.id) == {}
    images = [i for i in demo.image.images() if i.name == f"{server.name}-shelved"]
    assert len(images) == 1 and images[0].status == "active"
    assert images[0].instance_uuid == server.id
    # only admins offload (403 before the state is looked at), nothing twice (409)
    assert act(cloud, server.id, {"shelveOffload": None}).status_code == 403
    assert "vm_state shelved_offloaded" in conflict(act(cloud, server.id, {"shelve": None}))

    demo.compute.unshelve_server(server.id)
    back = wait(demo, server.id, "ACTIVE")
    assert admin.compute.get_server(server.id).compute_host
    assert allocations(cloud, server.id) == before
    with pytest.raises(exc.NotFoundException):
        demo.image.get_image(images[0].id)  # the shelve image is gone once it runs
    assert back.image["id"] == server.image["id"]
    assert "vm_state active" in conflict(act(cloud, server.id, {"unshelve": None}))
    actions = [a.action for a in demo.compute.server_actions(server.id)]
    assert actions[:2] == ["unshelve", "shelve"]


def test_shelve_kept_on_host(cloud: RunningCloud, demo: openstack.connection.Connection,
                             server: Any) -> None:
    shelving = cloud.runtime.compute.shelving
    shelving.offload_time = -1  # never offloaded by itself
    try:
        assert act(cloud, server.id, {"shelve": None}).status_code == 202
        wait(demo, server.id, "SHELVED")
        assert allocations(cloud, server.id)  # still on its host
        # a zone (2.77) is for offloaded servers only
        msg = conflict(act(cloud, server.id, {"unshelve": {"availability_zone": "nova"}},
                           version="2.77"))
        assert "must be SHELVED_OFFLOADED" in msg
        assert act(cloud, server.id, {"shelveOffload": None}, who="admin").status_code == 202
        wait(demo, server.id, "SHELVED_OFFLOADED")
        assert allocations(cloud, server.id) == {}
        r = act(cloud, server.id, {"unshelve": {"availability_zone": "nova"}}, version="2.77")
        assert r.status_code == 202, r.text
        wait(demo, server.id, "ACTIVE")
    finally:
        shelving.offload_time = 0


def test_bad_requests(cloud: RunningCloud, server: Any) -> None:
    assert "'shelve'" in bad(act(cloud, server.id, {"shelve": {"x": 1}}))
    # before 2.77 unshelve takes nothing; from 2.77 the zone only; a bad zone is a 400
    assert "'unshelve'" in bad(act(cloud, server.id, {"unshelve": {
        "availability_zone": "nova"}}, version="2.76"))
    assert "'unshelve'" in bad(act(cloud, server.id, {"unshelve": {"host": "h"}},
                                   version="2.77"))
    assert "rescue_image_ref" in bad(act(cloud, server.id,
                                         {"rescue": {"rescue_image_ref": "nope"}}))
    assert "could not be found" in bad(act(cloud, server.id, {"rescue": {
        "rescue_image_ref": "8c6b7a3e-8d70-4f0a-a4f3-4d1a1f5e1a9b"}}))
    assert "'unrescue'" in bad(act(cloud, server.id, {"unrescue": {"x": 1}}))
    assert "vm_state active" in conflict(act(cloud, server.id, {"unrescue": None}))
    # another project's server is not found (admin's own server, asked for by demo)
    admin = connect(cloud)
    other = admin.compute.create_server(name=unique("vm"), image_id=server.image["id"],
                                        flavor_id="42", networks="none")
    try:
        for body in ({"shelve": None}, {"rescue": None}, {"unshelve": None}):
            assert act(cloud, other.id, body).status_code == 404
    finally:
        admin.compute.delete_server(other.id, force=True)


def test_rescue_unrescue(cloud: RunningCloud, demo: openstack.connection.Connection,
                         server: Any, image_id: str) -> None:
    r = act(cloud, server.id, {"rescue": {"adminPass": "s3cret-pass",
                                          "rescue_image_ref": image_id}})
    assert r.status_code == 200 and r.json() == {"adminPass": "s3cret-pass"}
    wait(demo, server.id, "RESCUE")
    assert "vm_state rescued" in conflict(act(cloud, server.id, {"rescue": None}))
    assert "vm_state rescued" in conflict(act(cloud, server.id, {"shelve": None}))
    demo.compute.unrescue_server(server.id)
    wait(demo, server.id, "ACTIVE")
    r = act(cloud, server.id, {"rescue": None})  # the server's own image, a new password
    assert r.status_code == 200 and len(r.json()["adminPass"]) >= 8
    wait(demo, server.id, "RESCUE")
    actions = [a.action for a in demo.compute.server_actions(server.id)]
    assert actions[:3] == ["rescue", "unrescue", "rescue"]


def test_resize_revert_gives_back_flavor_and_claim(
        cloud: RunningCloud, demo: openstack.connection.Connection,
        admin: openstack.connection.Connection, server: Any) -> None:
    host = admin.compute.get_server(server.id).compute_host
    before = allocations(cloud, server.id)
    demo.compute.resize_server(server.id, "84")
    wait(demo, server.id, "VERIFY_RESIZE")
    assert allocations(cloud, server.id) != before
    assert "vm_state resized" in conflict(act(cloud, server.id, {"shelve": None}))
    demo.compute.revert_server_resize(server.id)
    back = wait(demo, server.id, "ACTIVE")
    assert back.flavor["original_name"] == "m1.nano"
    assert admin.compute.get_server(server.id).compute_host == host
    assert allocations(cloud, server.id) == before
    assert "vm_state active" in conflict(act(cloud, server.id, {"revertResize": None}))


def test_cli(cloud: RunningCloud, cli: Cli, server: Any) -> None:
    """The `openstack server` commands (once: the CLI's requests are the SDK's above, and
    each command costs seconds; the database behind is no part of what it tests)."""
    if not cloud.settings.database_url.startswith("sqlite"):
        pytest.skip("the CLI runs against the SQLite cloud only")
    conn = connect(cloud)
    conn.compute.resize_server(server.id, "84")
    for args, status in ((("resize", "revert"), "ACTIVE"), (("shelve",), "SHELVED_OFFLOADED"),
                         (("unshelve",), "ACTIVE"), (("rescue",), "RESCUE"),
                         (("unrescue",), "ACTIVE")):
        if args == ("resize", "revert"):
            wait(conn, server.id, "VERIFY_RESIZE")
        cli.run("server", *args, server.id)
        shown = wait(conn, server.id, status)
        if args == ("resize", "revert"):
            assert shown.flavor["original_name"] == "m1.nano"


def test_volume_backed_server_keeps_its_volume(cloud: RunningCloud,
                                               demo: openstack.connection.Connection,
                                               image_id: str) -> None:
    from tests.api.test_boot_from_volume import _boot, _guest_disks, _image_to_volume

    server = wait(demo, _boot(demo, [_image_to_volume(image_id,
                                                      delete_on_termination=True)]).id,
                  "ACTIVE")
    try:
        [root] = [d for d in _guest_disks(cloud, server.id) if d.kind == "volume"]
        demo.compute.shelve_server(server.id)
        wait(demo, server.id, "SHELVED_OFFLOADED")
        assert not [i for i in demo.image.images() if i.name == f"{server.name}-shelved"]
        assert server.id not in cloud.runtime.compute_agent.driver.guests
        demo.compute.unshelve_server(server.id)
        wait(demo, server.id, "ACTIVE")
        assert _guest_disks(cloud, server.id)[0].serial == root.serial  # boots its volume
        assert [a.volume_id[:20] for a in demo.compute.volume_attachments(server)] == [
            root.serial]
    finally:
        connect(cloud).compute.delete_server(server.id, force=True)
