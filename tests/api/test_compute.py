"""Compute (Nova v2.1) with the real openstacksdk on the fake hypervisor: flavors, key
pairs, quotas, servers and their actions, isolation between projects."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openstack
import pytest
from openstack import exceptions as exc

from tests.api.conftest import connect, unique
from tests.support.server import RunningCloud

MV = "2.79"


@pytest.fixture(scope="module")
def image_id(cloud: RunningCloud) -> str:
    conn = connect(cloud)
    img = conn.image.create_image(name=unique("cirros"), data=b"\0" * 4096,
                                  disk_format="raw", container_format="bare",
                                  visibility="public")
    return str(img.id)


def nova(cloud: RunningCloud, method: str, path: str, who: str = "admin",
         version: str = MV, **kw: Any) -> httpx.Response:
    headers = {"X-Auth-Token": cloud.token(who), "OpenStack-API-Version": f"compute {version}"}
    return httpx.request(method, f"{cloud.base_url}/compute/v2.1{path}", headers=headers,
                         timeout=30, **kw)


def wait(conn: openstack.connection.Connection, server_id: str, status: str,
         timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        server = conn.compute.get_server(server_id)
        if server.status == status:
            return server
        if time.monotonic() > deadline:
            raise AssertionError(f"server {server_id} is {server.status}, not {status}")
        time.sleep(0.05)


@pytest.fixture
def server(cloud: RunningCloud, admin: openstack.connection.Connection,
           image_id: str) -> Iterator[Any]:
    s = admin.compute.create_server(name=unique("vm"), image_id=image_id, flavor_id="42",
                                    networks="none")
    yield wait(admin, s.id, "ACTIVE")
    with contextlib.suppress(exc.SDKException):
        admin.compute.delete_server(s.id, force=True)


# --- discovery and flavors -----------------------------------------------------------------
def test_versions_and_microversion_headers(cloud: RunningCloud) -> None:
    r = httpx.get(f"{cloud.base_url}/compute/")
    assert {v["id"] for v in r.json()["versions"]} == {"v2.0", "v2.1"}
    r = nova(cloud, "GET", "/flavors", version="2.60")
    assert r.headers["OpenStack-API-Version"] == "compute 2.60"
    assert r.headers["X-OpenStack-Nova-API-Version"] == "2.60"
    assert "x-compute-request-id" in r.headers
    assert nova(cloud, "GET", "/flavors", version="2.99").status_code == 406
    r = nova(cloud, "GET", "/servers/nope")
    assert r.status_code == 404 and r.json()["itemNotFound"]["code"] == 404


def test_bootstrap_flavors(admin: openstack.connection.Connection) -> None:
    names = {f.name: f for f in admin.compute.flavors()}
    assert {"m1.nano", "m1.micro", "m1.tiny", "m1.small", "m1.medium", "m1.large",
            "m1.xlarge"} <= set(names)
    assert names["m1.nano"].ram == 128 and names["m1.micro"].ram == 192


def test_flavor_admin_private_access_and_specs(cloud: RunningCloud,
                                               admin: openstack.connection.Connection,
                                               demo: openstack.connection.Connection) -> None:
    name = unique("flv")
    f = admin.compute.create_flavor(name=name, ram=256, vcpus=1, disk=1, is_public=False)
    assert f.is_public is False
    assert name not in {x.name for x in demo.compute.flavors()}
    demo_project = cloud.accounts["demo"].project_id
    admin.compute.flavor_add_tenant_access(f.id, demo_project)
    assert name in {x.name for x in demo.compute.flavors()}
    admin.compute.create_flavor_extra_specs(f.id, {"hw:cpu_policy": "shared"})
    assert admin.compute.fetch_flavor_extra_specs(f.id).extra_specs == {
        "hw:cpu_policy": "shared"}
    with pytest.raises(exc.ForbiddenException):
        demo.compute.create_flavor(name=unique("x"), ram=1, vcpus=1, disk=0)
    with pytest.raises(exc.ConflictException):
        admin.compute.create_flavor(name=name, ram=256, vcpus=1, disk=1)
    admin.compute.delete_flavor(f.id)
    with pytest.raises(exc.NotFoundException):
        admin.compute.get_flavor(f.id)


# --- key pairs -----------------------------------------------------------------------------
def test_keypairs_generate_import_and_per_user(admin: openstack.connection.Connection,
                                               demo: openstack.connection.Connection) -> None:
    name = unique("kp")
    kp = admin.compute.create_keypair(name=name)
    assert kp.private_key.startswith("-----BEGIN") and kp.public_key.startswith("ssh-rsa")
    assert kp.fingerprint.count(":") == 15
    imported = demo.compute.create_keypair(name=name, public_key=kp.public_key)
    assert imported.fingerprint == kp.fingerprint and not imported.private_key
    assert name in {k.name for k in demo.compute.keypairs()}
    x = admin.compute.create_keypair(name=unique("x509"), type="x509")
    assert x.type == "x509" and "BEGIN CERTIFICATE" in x.public_key
    with pytest.raises(exc.ConflictException):
        admin.compute.create_keypair(name=name)
    admin.compute.delete_keypair(name)
    demo.compute.delete_keypair(name)
    admin.compute.delete_keypair(x.name)


def test_bad_public_key_is_400(cloud: RunningCloud) -> None:
    r = nova(cloud, "POST", "/os-keypairs",
             json={"keypair": {"name": unique("k"), "public_key": "ssh-rsa nope"}})
    assert r.status_code == 400 and "badRequest" in r.json()


# --- limits, quotas, zones, services, hypervisors ---------------------------------------------
def test_limits_quotas_zones_services_hypervisors(cloud: RunningCloud) -> None:
    project = cloud.accounts["demo"].project_id
    assert nova(cloud, "GET", "/limits", who="demo").json()["limits"]["absolute"][
        "maxTotalInstances"] == 10
    q = nova(cloud, "GET", f"/os-quota-sets/{project}/defaults", version="2.1").json()
    assert q["quota_set"]["cores"] == 20 and "floating_ips" in q["quota_set"]
    zones = nova(cloud, "GET", "/os-availability-zone", who="demo").json()
    assert zones["availabilityZoneInfo"][0]["zoneName"] == "nova"
    services = nova(cloud, "GET", "/os-services").json()["services"]
    assert any(s["binary"] == "nova-compute" and s["state"] == "up" for s in services)
    assert nova(cloud, "GET", "/os-services", who="demo").status_code == 403
    hyp = nova(cloud, "GET", "/os-hypervisors/detail").json()["hypervisors"]
    assert hyp[0]["hypervisor_type"] == "QEMU" and hyp[0]["memory_mb"] == 16384
    usage = nova(cloud, "GET", "/os-simple-tenant-usage?detailed=1")
    assert usage.status_code == 200 and "tenant_usages" in usage.json()


# --- servers -------------------------------------------------------------------------------
def test_create_list_show_update(admin: openstack.connection.Connection, server: Any) -> None:
    assert server.power_state == 1 and server.vm_state == "active"
    assert server.id in {s.id for s in admin.compute.servers()}
    found = list(admin.compute.servers(name=server.name[:6] + ".*", status="ACTIVE"))
    assert [s.id for s in found] == [server.id]
    admin.compute.update_server(server.id, name=server.name + "-x")
    assert admin.compute.get_server(server.id).name == server.name + "-x"


def test_actions_reach_their_states(cloud: RunningCloud,
                                    admin: openstack.connection.Connection,
                                    server: Any) -> None:
    c = admin.compute
    c.stop_server(server.id)
    wait(admin, server.id, "SHUTOFF")
    r = nova(cloud, "POST", f"/servers/{server.id}/action", json={"os-stop": None})
    assert r.status_code == 409
    assert "vm_state stopped" in r.json()["conflictingRequest"]["message"]
    c.start_server(server.id)
    wait(admin, server.id, "ACTIVE")
    c.reboot_server(server.id, "HARD")
    wait(admin, server.id, "ACTIVE")
    c.pause_server(server.id)
    wait(admin, server.id, "PAUSED")
    c.unpause_server(server.id)
    wait(admin, server.id, "ACTIVE")
    c.suspend_server(server.id)
    wait(admin, server.id, "SUSPENDED")
    c.resume_server(server.id)
    wait(admin, server.id, "ACTIVE")
    c.resize_server(server.id, "84")
    wait(admin, server.id, "VERIFY_RESIZE")
    c.revert_server_resize(server.id)
    assert wait(admin, server.id, "ACTIVE").flavor["original_name"] == "m1.nano"
    c.resize_server(server.id, "84")
    wait(admin, server.id, "VERIFY_RESIZE")
    c.confirm_server_resize(server.id)
    assert wait(admin, server.id, "ACTIVE").flavor["original_name"] == "m1.micro"
    c.rebuild_server(server.id, image=server.image["id"], name="rebuilt")
    assert wait(admin, server.id, "ACTIVE").name == "rebuilt"
    out = c.get_server_console_output(server.id, length=5)["output"]
    assert "login banner" in out
    actions = {a.action for a in c.server_actions(server.id)}
    assert {"create", "stop", "start", "reboot", "resize", "rebuild"} <= actions
    r = nova(cloud, "GET", f"/os-migrations?instance_uuid={server.id}&migration_type=resize",
             version="2.59")
    assert [(m["status"], m["old_instance_type_id"], m["new_instance_type_id"])
            for m in r.json()["migrations"]] == [("confirmed", 42, 84), ("reverted", 42, 84)]


def test_lock_and_snapshot(cloud: RunningCloud, admin: openstack.connection.Connection,
                           demo: openstack.connection.Connection, image_id: str) -> None:
    s = demo.compute.create_server(name=unique("vm"), image_id=image_id, flavor_id="42",
                                   networks="none")
    wait(demo, s.id, "ACTIVE")
    demo.compute.lock_server(s.id)
    with pytest.raises(exc.ConflictException):
        demo.compute.stop_server(s.id)
    demo.compute.unlock_server(s.id)
    image = demo.compute.create_server_image(s.id, unique("snap"), wait=True, timeout=20)
    assert demo.image.get_image(image.id).status == "active"
    wait(demo, s.id, "ACTIVE")
    demo.compute.delete_server(s.id)
    demo.compute.wait_for_delete(s, wait=10)


def test_snapshot_inherits_the_base_image_minimums(
        admin: openstack.connection.Connection, demo: openstack.connection.Connection) -> None:
    """As Nova: the snapshot's min_ram is the base image's, its min_disk the larger of the
    base image's and the flavor's root disk (tempest's test_create_delete_image)."""
    flavor = admin.compute.get_flavor("42")
    base = admin.image.create_image(name=unique("base"), data=b"\0" * 4096,
                                    disk_format="raw", container_format="bare",
                                    visibility="public", min_ram=flavor.ram, min_disk=0)
    s = demo.compute.create_server(name=unique("vm"), image_id=base.id, flavor_id="42",
                                   networks="none")
    try:
        wait(demo, s.id, "ACTIVE")
        image = demo.compute.create_server_image(s.id, unique("snap"), wait=True,
                                                 timeout=20)
        snap = demo.image.get_image(image.id)
        assert (snap.min_ram, snap.min_disk) == (flavor.ram, flavor.disk)
        demo.image.delete_image(snap.id)
    finally:
        demo.compute.delete_server(s.id)
        demo.compute.wait_for_delete(s, wait=10)
        admin.image.delete_image(base.id)


def test_bad_requests(cloud: RunningCloud, image_id: str) -> None:
    def create(**server: Any) -> httpx.Response:
        body = {"name": unique("bad"), "imageRef": image_id, "flavorRef": "42",
                "networks": "none", **server}
        return nova(cloud, "POST", "/servers", json={"server": body})

    assert create(flavorRef="nope").status_code == 400
    assert create(imageRef="00000000-0000-0000-0000-000000000000").status_code == 400
    assert create(name="").status_code == 400
    assert create(name=12345).status_code == 400
    assert create(key_name="nope").status_code == 400
    assert create(accessIPv6="notvalid").status_code == 400
    assert create(metadata={"a": "b" * 260}).status_code == 400
    assert create(networks=[{"uuid": "a-b-c"}]).status_code == 400
    assert nova(cloud, "GET", "/servers?changes-since=junk").status_code == 400
    assert nova(cloud, "GET", "/servers?limit=-1").status_code == 400
    assert nova(cloud, "GET", "/servers?status=nope", who="demo").status_code == 400


def test_quota_exceeded_is_403(cloud: RunningCloud, image_id: str) -> None:
    project = cloud.accounts["demo"].project_id
    r = nova(cloud, "PUT", f"/os-quota-sets/{project}", json={"quota_set": {"cores": 0}})
    assert r.status_code == 200, r.text
    try:
        r = nova(cloud, "POST", "/servers", who="demo", json={"server": {
            "name": unique("q"), "imageRef": image_id, "flavorRef": "42", "networks": "none"}})
        assert r.status_code == 403 and "cores" in r.json()["forbidden"]["message"]
    finally:
        nova(cloud, "DELETE", f"/os-quota-sets/{project}")


def test_two_projects_are_isolated(cloud: RunningCloud, demo: openstack.connection.Connection,
                                   server: Any) -> None:
    assert server.id not in {s.id for s in demo.compute.servers()}
    for method, path, body in (("GET", "", None), ("DELETE", "", None),
                               ("POST", "/action", {"os-stop": None})):
        r = nova(cloud, method, f"/servers/{server.id}{path}", who="demo", json=body)
        assert r.status_code == 404, (method, path, r.text)
    r = nova(cloud, "GET", "/servers/detail?all_tenants=1")
    assert server.id in {s["id"] for s in r.json()["servers"]}


def test_no_valid_host_says_why(cloud: RunningCloud, admin: openstack.connection.Connection,
                                image_id: str) -> None:
    f = admin.compute.create_flavor(name=unique("huge"), ram=10**7, vcpus=1, disk=1)
    project = cloud.accounts["admin"].project_id
    nova(cloud, "PUT", f"/os-quota-sets/{project}", json={"quota_set": {"ram": -1}})
    try:
        s = admin.compute.create_server(name=unique("huge"), image_id=image_id,
                                        flavor_id=f.id, networks="none")
        s = wait(admin, s.id, "ERROR")
        assert "No valid host" in s.fault["message"] and "MEMORY_MB" in s.fault["message"]
        admin.compute.delete_server(s.id)
    finally:
        nova(cloud, "DELETE", f"/os-quota-sets/{project}")
        admin.compute.delete_flavor(f.id)


def test_server_groups_anti_affinity(admin: openstack.connection.Connection,
                                     image_id: str) -> None:
    group = admin.compute.create_server_group(name=unique("g"), policy="anti-affinity")
    first = admin.compute.create_server(name=unique("g"), image_id=image_id, flavor_id="42",
                                        networks="none", scheduler_hints={"group": group.id})
    wait(admin, first.id, "ACTIVE")
    second = admin.compute.create_server(name=unique("g"), image_id=image_id, flavor_id="42",
                                         networks="none", scheduler_hints={"group": group.id})
    second = wait(admin, second.id, "ERROR")
    assert "anti-affinity" in second.fault["message"]
    for s in (first, second):
        admin.compute.delete_server(s.id)
    admin.compute.delete_server_group(group.id)


def test_tags_and_metadata(cloud: RunningCloud, server: Any) -> None:
    sid = server.id
    assert nova(cloud, "PUT", f"/servers/{sid}/tags/blue").status_code == 201
    assert nova(cloud, "GET", f"/servers/{sid}/tags/blue").status_code == 204
    r = nova(cloud, "GET", "/servers?tags=blue")
    assert [s["id"] for s in r.json()["servers"]] == [sid]
    assert nova(cloud, "DELETE", f"/servers/{sid}/tags").status_code == 204
    r = nova(cloud, "POST", f"/servers/{sid}/metadata", json={"metadata": {"k": "v"}})
    assert r.json()["metadata"] == {"k": "v"}


# --- Nova's image proxy (to 2.35), access IPs, status filter ---------------------------------
def test_image_proxy(cloud: RunningCloud, server: Any) -> None:
    conn = connect(cloud)
    r = nova(cloud, "POST", f"/servers/{server.id}/action", version="2.35",
             json={"createImage": {"name": "snap", "metadata": {"image_type": "test"}}})
    assert r.status_code == 202
    image_id = r.headers["Location"].rsplit("/", 1)[-1]
    deadline = time.monotonic() + 10
    while True:
        img = nova(cloud, "GET", f"/images/{image_id}", version="2.35").json()["image"]
        if img["status"] == "ACTIVE" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert img["status"] == "ACTIVE" and img["name"] == "snap" and img["progress"] == 100
    assert img["metadata"]["image_type"] == "test" and img["server"]["id"] == server.id
    listed = nova(cloud, "GET", "/images/detail", version="2.35")
    assert listed.status_code == 200, listed.text
    assert image_id in [i["id"] for i in listed.json()["images"]], listed.text
    assert nova(cloud, "GET", f"/images/{image_id}", version="2.36").status_code == 404
    assert nova(cloud, "DELETE", f"/images/{image_id}", version="2.35").status_code == 204
    r = nova(cloud, "GET", f"/images/{image_id}", version="2.35")
    assert r.status_code == 404 and r.json()["itemNotFound"]["message"] == "Image not found."
    del conn


def test_access_ips_are_normalised_and_unknown_status(cloud: RunningCloud,
                                                      image_id: str) -> None:
    r = nova(cloud, "POST", "/servers", json={"server": {
        "name": unique("ip"), "imageRef": image_id, "flavorRef": "42", "networks": "none",
        "accessIPv6": "0000:0000:0000:0000:0000:babe:220.12.22.2", "accessIPv4": "1.1.1.1"}})
    server_id = r.json()["server"]["id"]
    shown = nova(cloud, "GET", f"/servers/{server_id}").json()["server"]
    assert shown["accessIPv6"] == "::babe:dc0c:1602" and shown["accessIPv4"] == "1.1.1.1"
    r = nova(cloud, "GET", "/servers?status=nonsense", who="demo", version="2.37")
    assert r.status_code == 200 and r.json()["servers"] == []
    assert nova(cloud, "GET", "/servers?status=nonsense", who="demo").status_code == 400
    nova(cloud, "DELETE", f"/servers/{server_id}")
