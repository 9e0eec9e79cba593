"""Nova behaviour tempest's whole API suite checks beyond the guideline (the fixes of
docs/interop.md "Whole tempest API suite"), through raw HTTP with real tokens."""

from __future__ import annotations

import httpx
import openstack

from tests.api.conftest import unique
from tests.api.test_compute import image_id, nova, wait
from tests.support.server import RunningCloud

__all__ = ["image_id"]  # the fixture


def test_flavor_is_public_takes_novas_boolean_strings(cloud: RunningCloud) -> None:
    """os-flavor-access:is_public is Nova's parameter_types.boolean: a JSON boolean or a
    string such as "False" or "YES" (tempest's flavor tests send "True"/"False")."""
    made = []
    try:
        for value, public in (("False", False), ("YES", True), (False, False), ("on", True)):
            r = nova(cloud, "POST", "/flavors", json={"flavor": {
                "name": unique("fl"), "ram": 64, "vcpus": 1, "disk": 0,
                "os-flavor-access:is_public": value}})
            assert r.status_code == 200, r.text
            flavor = r.json()["flavor"]
            made.append(flavor["id"])
            assert flavor["os-flavor-access:is_public"] is public
        private = made[0]
        demo = nova(cloud, "GET", f"/flavors/{private}", who="demo")
        assert demo.status_code == 404  # a private flavor is not the demo project's
        bad = nova(cloud, "POST", "/flavors", json={"flavor": {
            "name": unique("fl"), "ram": 64, "vcpus": 1, "disk": 0,
            "os-flavor-access:is_public": "maybe"}})
        assert bad.status_code == 400
        assert "os-flavor-access:is_public" in bad.json()["badRequest"]["message"]
    finally:
        for flavor_id in made:
            nova(cloud, "DELETE", f"/flavors/{flavor_id}")


def test_security_group_rule_proxy_keeps_the_cidr_as_given(cloud: RunningCloud) -> None:
    """os-security-group-rules (to 2.35) hands the cidr to Neutron unchanged, host bits and
    all (tempest's test_security_group_rules_create_with_optional_cidr)."""
    group = nova(cloud, "POST", "/os-security-groups", version="2.1", json={
        "security_group": {"name": unique("sg"), "description": "d"}}).json()["security_group"]
    try:
        r = nova(cloud, "POST", "/os-security-group-rules", version="2.1", json={
            "security_group_rule": {"parent_group_id": group["id"], "ip_protocol": "tcp",
                                    "from_port": 22, "to_port": 22, "cidr": "10.2.3.124/24"}})
        assert r.status_code == 200, r.text
        assert r.json()["security_group_rule"]["ip_range"] == {"cidr": "10.2.3.124/24"}
        bad = nova(cloud, "POST", "/os-security-group-rules", version="2.1", json={
            "security_group_rule": {"parent_group_id": group["id"], "ip_protocol": "tcp",
                                    "from_port": 22, "to_port": 22, "cidr": "10.2.3.300/24"}})
        assert bad.status_code == 400 and "cidr" in bad.json()["badRequest"]["message"]
    finally:
        nova(cloud, "DELETE", f"/os-security-groups/{group['id']}", version="2.1")


def test_image_proxy_filters(cloud: RunningCloud) -> None:
    """GET /images?name=&type=&server=&minRam= (to 2.35) filters as Nova does through
    Glance (tempest's ListImageFiltersTestJSON): server is a snapshot's instance_uuid
    given as an id or a link, type its image_type."""
    glance = f"{cloud.base_url}/image/v2/images"
    h = {"X-Auth-Token": cloud.token("admin")}
    server = "11111111-2222-3333-4444-555555555555"
    made = []
    try:
        for name, extra in ((unique("plain"), {"min_ram": 512}),
                            (unique("snap"), {"image_type": "snapshot",
                                              "instance_uuid": server})):
            r = httpx.post(glance, json={"name": name, "disk_format": "raw",
                                         "container_format": "bare", **extra}, headers=h)
            assert r.status_code == 201, r.text
            made.append((name, r.json()["id"]))
        (plain, plain_id), (_snap, snap_id) = made

        def ids(**query: str) -> set[str]:
            r = nova(cloud, "GET", "/images/detail", version="2.1", params=query)
            assert r.status_code == 200, r.text
            return {i["id"] for i in r.json()["images"]}

        assert ids(name=plain) == {plain_id}
        assert snap_id in ids(type="snapshot") and plain_id not in ids(type="snapshot")
        assert ids(server=server) == {snap_id}
        link = f"{cloud.base_url}/compute/v2.1/servers/{server}"
        assert ids(server=link) == {snap_id}
        assert plain_id in ids(minRam="512") and snap_id not in ids(minRam="512")
        assert ids(name=plain, status="ACTIVE") == set()  # queued: no data yet
    finally:
        for _name, image_id in made:
            httpx.delete(f"{glance}/{image_id}", headers=h)


def test_admin_server_list_ignores_tenant_id_without_all_tenants(
        cloud: RunningCloud, demo: openstack.connection.Connection, image_id: str) -> None:
    """Nova lists the caller's own project unless all_tenants is given; tenant_id or
    project_id alone change nothing (tempest's
    test_list_servers_by_admin_with_specified_tenant)."""
    demo_project = cloud.accounts["demo"].project_id
    made = demo.compute.create_server(name=unique("vm"), image_id=image_id, flavor_id="42",
                                      networks="none")
    try:
        wait(demo, made.id, "ACTIVE")

        def ids(query: str) -> set[str]:
            r = nova(cloud, "GET", f"/servers/detail?{query}")
            assert r.status_code == 200, r.text
            return {s["id"] for s in r.json()["servers"]}

        assert made.id not in ids(f"tenant_id={demo_project}")
        assert made.id not in ids(f"project_id={demo_project}")
        assert made.id in ids(f"all_tenants=1&tenant_id={demo_project}")
        assert made.id in ids(f"all_tenants=1&project_id={demo_project}")
        assert made.id in {s.id for s in demo.compute.servers()}
    finally:
        demo.compute.delete_server(made.id, force=True)


def test_security_group_rule_proxy_wants_uuid_group_ids(cloud: RunningCloud) -> None:
    """A parent_group_id (or group_id) that is not a uuid is 400 (Nova's validate_id;
    tempest's test_create_security_group_rule_with_invalid_id); an unknown uuid 404."""
    rule = {"ip_protocol": "tcp", "from_port": 22, "to_port": 22}
    r = nova(cloud, "POST", "/os-security-group-rules", version="2.1", json={
        "security_group_rule": {"parent_group_id": "non_int_id", **rule}})
    assert r.status_code == 400 and "uuid" in r.json()["badRequest"]["message"]
    r = nova(cloud, "POST", "/os-security-group-rules", version="2.1", json={
        "security_group_rule": {"parent_group_id": "00000000-0000-0000-0000-000000000000",
                                **rule}})
    assert r.status_code == 404


def test_argumentless_actions_take_an_empty_object(cloud: RunningCloud,
                                                   demo: openstack.connection.Connection,
                                                   image_id: str) -> None:
    """shelve and shelveOffload take null or {} (tempest sends {"shelve": {}}); an
    argument is still a 400 naming the action."""
    made = demo.compute.create_server(name=unique("vm"), image_id=image_id, flavor_id="42",
                                      networks="none")
    try:
        wait(demo, made.id, "ACTIVE")
        bad = nova(cloud, "POST", f"/servers/{made.id}/action", who="demo",
                   json={"shelve": {"x": 1}})
        assert bad.status_code == 400 and "shelve" in bad.json()["badRequest"]["message"]
        r = nova(cloud, "POST", f"/servers/{made.id}/action", who="demo", json={"shelve": {}})
        assert r.status_code == 202, r.text
        wait(demo, made.id, "SHELVED_OFFLOADED", timeout=60)
    finally:
        demo.compute.delete_server(made.id, force=True)
