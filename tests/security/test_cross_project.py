"""Another project's IDs in request bodies: sec-b's member names sec-a's ports, networks,
subnets, volumes, snapshots, images, security groups, key pairs, server groups and routers
when booting, attaching, routing and creating, and is refused each time with the service's
own fault, while sec-a's resources stay as they were."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.security.conftest import Persona, Personas, Resources, Shared, unique
from tests.security.persona_routes import fault_message
from tests.support.server import CloudThread, RunningCloud

C, N = "/compute/v2.1", "/networking/v2.0"
REFUSED = {400, 403, 404}
NOVA_V = {"OpenStack-API-Version": "compute 2.67"}


def refused(service: str, r: httpx.Response, codes: set[int] = REFUSED) -> str:
    assert r.status_code in codes, f"{r.request.method} {r.request.url}: {r.status_code} " \
                                   f"{r.text[:300]}"
    return fault_message(service, r)


def _servers_of(p: Persona) -> set[str]:
    return {s["id"] for s in p.ok("GET", f"{C}/servers")["servers"]}


def _boot(p: Persona, b: Resources, **server: Any) -> httpx.Response:
    body = {"name": unique("xp"), "flavorRef": "42", "imageRef": b.image,
            "networks": [{"uuid": b.network}], **server}
    return p.call("POST", f"{C}/servers", {"server": body}, headers=NOVA_V)


@pytest.fixture(scope="module")
def other(personas: Personas) -> Persona:
    return personas.other


BOOTS = {
    "port": lambda a: {"networks": [{"port": a.port}]},
    "network": lambda a: {"networks": [{"uuid": a.network}]},
    "image": lambda a: {"imageRef": a.image},
    "volume": lambda a: {"imageRef": "", "block_device_mapping_v2": [{
        "boot_index": 0, "uuid": a.volume, "source_type": "volume",
        "destination_type": "volume"}]},
    "snapshot": lambda a: {"imageRef": "", "block_device_mapping_v2": [{
        "boot_index": 0, "uuid": a.snapshot, "source_type": "snapshot",
        "destination_type": "volume", "volume_size": 1}]},
    "security group": lambda a: {"security_groups": [{"name": a.security_group}]},
    "key pair": lambda a: {"key_name": a.keypair},
}


@pytest.mark.parametrize("what", sorted(BOOTS))
def test_boot_with_another_projects(other: Persona, owned: Resources, foreign: Resources,
                                    what: str) -> None:
    before = _servers_of(other)
    r = _boot(other, foreign, **BOOTS[what](owned))
    refused("compute", r)
    assert _servers_of(other) == before


def test_boot_into_another_projects_server_group(other: Persona, owned: Resources,
                                                 foreign: Resources) -> None:
    before = _servers_of(other)
    body = {"server": {"name": unique("xp"), "flavorRef": "42", "imageRef": foreign.image,
                       "networks": [{"uuid": foreign.network}]},
            "os:scheduler_hints": {"group": owned.server_group}}
    refused("compute", other.call("POST", f"{C}/servers", body, headers=NOVA_V))
    assert _servers_of(other) == before


def test_attach_another_projects_volume(other: Persona, owned: Resources,
                                        foreign: Resources, personas: Personas) -> None:
    r = other.call("POST", f"{C}/servers/{foreign.server}/os-volume_attachments",
                   {"volumeAttachment": {"volumeId": owned.volume}})
    refused("compute", r)
    r = other.call("POST", f"/volume/v3/{foreign.project_id}/attachments", {
        "attachment": {"volume_uuid": owned.volume, "instance_uuid": foreign.server}},
        headers={"OpenStack-API-Version": "volume 3.44"})
    refused("volume", r)
    vol = personas.owner.ok("GET", f"/volume/v3/{owned.project_id}/volumes/{owned.volume}")
    assert vol["volume"]["status"] == "available" and not vol["volume"]["attachments"]


@pytest.mark.parametrize("field", ["port_id", "net_id"])
def test_attach_interface_on_another_projects(other: Persona, owned: Resources,
                                              foreign: Resources, personas: Personas,
                                              field: str) -> None:
    value = owned.port if field == "port_id" else owned.network
    r = other.call("POST", f"{C}/servers/{foreign.server}/os-interface",
                   {"interfaceAttachment": {field: value}})
    refused("compute", r)
    port = personas.owner.ok("GET", f"{N}/ports/{owned.port}")["port"]
    assert port["device_id"] == ""


@pytest.mark.parametrize("source", ["snapshot_id", "imageRef", "source_volid"])
def test_volume_from_another_projects(other: Persona, owned: Resources, foreign: Resources,
                                      source: str) -> None:
    value = {"snapshot_id": owned.snapshot, "imageRef": owned.image,
             "source_volid": owned.volume}[source]
    v = f"/volume/v3/{foreign.project_id}"
    before = {x["id"] for x in other.ok("GET", f"{v}/volumes")["volumes"]}
    r = other.call("POST", f"{v}/volumes", {"volume": {"size": 1, source: value}})
    refused("volume", r)
    assert {x["id"] for x in other.ok("GET", f"{v}/volumes")["volumes"]} == before


@pytest.mark.parametrize("field", ["subnet_id", "port_id"])
def test_router_interface_on_another_projects(other: Persona, owned: Resources,
                                              foreign: Resources, field: str) -> None:
    value = owned.subnet if field == "subnet_id" else owned.port
    r = other.call("PUT", f"{N}/routers/{foreign.router}/add_router_interface",
                   {field: value})
    refused("network", r)


def test_port_and_floating_ip_on_another_projects(other: Persona, owned: Resources,
                                                  public: Shared) -> None:
    refused("network", other.call("POST", f"{N}/ports", {"port": {
        "network_id": owned.network}}))
    refused("network", other.call("POST", f"{N}/subnets", {"subnet": {
        "network_id": owned.network, "ip_version": 4, "cidr": "10.81.200.0/24"}}))
    refused("network", other.call("POST", f"{N}/floatingips", {"floatingip": {
        "floating_network_id": public.external_network, "port_id": owned.port}}))
    refused("network", other.call("POST", f"{N}/security-group-rules", {
        "security_group_rule": {"security_group_id": owned.security_group,
                                "direction": "ingress"}}))


def test_nova_security_group_proxy_on_another_projects(other: Persona, owned: Resources,
                                                       foreign: Resources,
                                                       personas: Personas) -> None:
    """The Nova proxy (up to 2.35) is Neutron's rules too, not a way around them."""
    old = {"OpenStack-API-Version": "compute 2.35"}
    sg = owned.security_group
    refused("compute", other.call("DELETE", f"{C}/os-security-groups/{sg}", headers=old))
    refused("compute", other.call("PUT", f"{C}/os-security-groups/{sg}", {
        "security_group": {"name": "x", "description": "x"}}, headers=old))
    refused("compute", other.call("POST", f"{C}/os-security-group-rules", {
        "security_group_rule": {"parent_group_id": sg, "ip_protocol": "tcp",
                                "from_port": 1, "to_port": 2, "cidr": "0.0.0.0/0"}},
        headers=old))
    refused("compute", other.call("DELETE", f"{C}/os-security-group-rules/"
                                            f"{owned.security_group_rule}", headers=old))
    refused("compute", other.call("POST", f"{C}/servers/{foreign.server}/action", {
        "addSecurityGroup": {"name": sg}}))
    got = personas.owner.ok("GET", f"{N}/security-groups/{sg}")["security_group"]
    assert got["name"] != "x" and owned.security_group_rule in {
        r["id"] for r in got["security_group_rules"]}


def test_nova_security_group_proxy_follows_neutron_rules(personas: Personas) -> None:
    """A reader cannot write security groups through the proxy either (Neutron's
    create_security_group is a member's)."""
    old = {"OpenStack-API-Version": "compute 2.35"}
    r = personas.reader.call("POST", f"{C}/os-security-groups", {
        "security_group": {"name": unique("sg"), "description": "x"}}, headers=old)
    assert "not authorized" in refused("compute", r, {403})


@pytest.fixture(scope="module")
def neutron_admin_only_groups(tmp_path_factory: pytest.TempPathFactory
                              ) -> Iterator[RunningCloud]:
    """A cloud whose operator made security-group writes Neutron-admin only."""
    policy = tmp_path_factory.mktemp("policy") / "policy.yaml"
    policy.write_text(json.dumps({name: "rule:net_admin" for name in (
        "create_security_group", "update_security_group", "delete_security_group",
        "create_security_group_rule", "delete_security_group_rule")}))
    thread = CloudThread(policy_file=str(policy))
    yield thread.start()
    thread.stop()


def test_nova_security_group_proxy_cannot_bypass_neutron_policy(
        neutron_admin_only_groups: RunningCloud) -> None:
    """Each write of the proxy asks Neutron's rule, so an operator's Neutron policy holds
    for Nova's os-security-groups too."""
    c = neutron_admin_only_groups
    old = {"X-Auth-Token": c.token("demo"), "OpenStack-API-Version": "compute 2.35"}
    url = f"{c.base_url}{C}"
    r = httpx.post(f"{url}/os-security-groups", headers=old, json={
        "security_group": {"name": "x", "description": "x"}})
    assert "create_security_group" in refused("compute", r, {403})
    sg = httpx.get(f"{c.base_url}{N}/security-groups", headers=old).json()[
        "security_groups"][0]
    r = httpx.post(f"{url}/os-security-group-rules", headers=old, json={
        "security_group_rule": {"parent_group_id": sg["id"], "ip_protocol": "tcp",
                                "from_port": 1, "to_port": 2, "cidr": "0.0.0.0/0"}})
    assert "create_security_group_rule" in refused("compute", r, {403})
    for path, rule in ((f"os-security-groups/{sg['id']}", "delete_security_group"),
                       (f"os-security-group-rules/{sg['security_group_rules'][0]['id']}",
                        "delete_security_group_rule")):
        r = httpx.delete(f"{url}/{path}", headers=old)
        assert rule in refused("compute", r, {403})


def test_image_membership_in_another_projects_image(other: Persona, owned: Resources,
                                                    foreign: Resources) -> None:
    r = other.call("POST", f"/image/v2/images/{owned.image}/members",
                   {"member": foreign.project_id})
    refused("image", r)
    r = other.call("POST", "/image/v2/images", {
        "name": unique("planted"), "disk_format": "raw", "container_format": "bare",
        "owner": owned.project_id})
    assert "add_image" in refused("image", r, {403})


def test_volume_url_of_another_project(other: Persona, owned: Resources) -> None:
    """sec-a's project in a block-storage URL, with sec-b's token: Cinder's 400."""
    r = other.call("GET", f"/volume/v3/{owned.project_id}/volumes")
    assert "Malformed request url" in refused("volume", r, {400})


def test_rebuild_with_another_projects_image(other: Persona, owned: Resources,
                                             foreign: Resources) -> None:
    r = other.call("POST", f"{C}/servers/{foreign.server}/action",
                   {"rebuild": {"imageRef": owned.image}})
    refused("compute", r)


def test_network_references_to_another_projects(other: Persona, owned: Resources,
                                                foreign: Resources) -> None:
    """Ports and rules of sec-b's own that name sec-a's subnet or security group, and a
    router gateway on sec-a's (not external) network."""
    refused("network", other.call("POST", f"{N}/ports", {"port": {
        "network_id": foreign.network, "fixed_ips": [{"subnet_id": owned.subnet}]}}))
    refused("network", other.call("POST", f"{N}/ports", {"port": {
        "network_id": foreign.network, "security_groups": [owned.security_group]}}))
    refused("network", other.call("PUT", f"{N}/ports/{foreign.port}", {"port": {
        "security_groups": [owned.security_group]}}))
    refused("network", other.call("POST", f"{N}/security-group-rules", {
        "security_group_rule": {"security_group_id": foreign.security_group,
                                "direction": "ingress",
                                "remote_group_id": owned.security_group}}))
    refused("network", other.call("PUT", f"{N}/routers/{foreign.router}", {"router": {
        "external_gateway_info": {"network_id": owned.network}}}))
    # planting in sec-a: a network, and a subnet on sec-b's network, owned by sec-a
    refused("network", other.call("POST", f"{N}/networks", {"network": {
        "name": "x", "project_id": owned.project_id}}), {403})
    refused("network", other.call("POST", f"{N}/subnets", {"subnet": {
        "network_id": foreign.network, "ip_version": 4, "cidr": "10.82.77.0/24",
        "project_id": owned.project_id}}))


def test_list_filters_naming_another_project_show_nothing(other: Persona, owned: Resources,
                                                          foreign: Resources,
                                                          personas: Personas) -> None:
    """all_tenants and project filters from a member: refused or ignored, never sec-a's."""
    a, v = owned.project_id, f"/volume/v3/{foreign.project_id}"
    private = [owned.server, owned.volume, owned.attached_volume, owned.snapshot,
               owned.image, owned.network, owned.subnet, owned.port, owned.router,
               owned.security_group, owned.floating_ip, owned.server_group, owned.attachment]
    for path in (f"{C}/servers/detail?all_tenants=1&project_id={a}",
                 f"{C}/servers?all_tenants=true&tenant_id={a}",
                 f"{C}/os-server-groups?all_projects=True",
                 f"{C}/os-keypairs?user_id={personas.owner.user_id}",
                 f"{v}/volumes/detail?all_tenants=1&project_id={a}",
                 f"{v}/snapshots/detail?all_tenants=1&project_id={a}",
                 f"{v}/attachments?all_tenants=1&project_id={a}",
                 f"/image/v2/images?owner={a}", "/image/v2/images?visibility=private",
                 f"{N}/ports?project_id={a}", f"{N}/networks?tenant_id={a}",
                 f"{N}/routers?project_id={a}", f"{N}/security-groups?project_id={a}",
                 f"{N}/floatingips?project_id={a}", f"{N}/subnets?project_id={a}"):
        version = {"/volume": "volume 3.44", "/compute": "compute 2.67"}.get(
            path[:path.index("/", 1)])
        r = other.call("GET", path, headers={"OpenStack-API-Version": version}
                       if version else None)
        assert r.status_code in (200, 403), f"{path}: {r.status_code} {r.text[:300]}"
        leaked = [x for x in private if x in r.text]
        assert not leaked, f"{path} shows sec-a's {leaked}"
        if "os-keypairs" in path:
            assert owned.keypair not in r.text
