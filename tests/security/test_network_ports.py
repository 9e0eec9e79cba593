"""Ports on a network the caller does not own (security review finding 4 and the policy half
of 7): on someone else's shared network a member may make a port and have an address the
network picks, but may not switch port security off, add allowed address pairs, choose its
addresses or MAC, bind it, or give it a ``network:*`` owner (a rogue DHCP server, a forged
router interface). Neutron's defaults (neutron/conf/policies/port.py) give those to the
network's owner and admins only; the owner keeps them on its own network."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api.conftest import cloud, pg_server  # noqa: F401  (the API suite's clouds)
from tests.support.server import RunningCloud, password_token


@dataclass
class Member:
    """A project of its own with one member user, made by admin."""

    project_id: str
    token: str


@dataclass
class Net:
    id: str
    subnet_id: str
    cidr: str


def make_member(c: RunningCloud) -> Iterator[Member]:
    admin = {"X-Auth-Token": c.admin_token()}
    name = f"netsec-{uuid.uuid4().hex[:8]}"
    project = httpx.post(f"{c.auth_url}/projects", headers=admin, json={
        "project": {"name": name, "domain_id": "default"}}).json()["project"]
    user = httpx.post(f"{c.auth_url}/users", headers=admin, json={
        "user": {"name": name, "password": "pw-" + name, "domain_id": "default",
                 "default_project_id": project["id"]}}).json()["user"]
    role = httpx.get(f"{c.auth_url}/roles?name=member", headers=admin).json()["roles"][0]
    r = httpx.put(f"{c.auth_url}/projects/{project['id']}/users/{user['id']}/roles/"
                  f"{role['id']}", headers=admin)
    assert r.status_code == 204, r.text
    yield Member(project["id"], password_token(c.auth_url, name, "pw-" + name, name))
    httpx.delete(f"{c.auth_url}/users/{user['id']}", headers=admin)
    httpx.delete(f"{c.auth_url}/projects/{project['id']}", headers=admin)


@pytest.fixture
def other(cloud: RunningCloud) -> Iterator[Member]:  # noqa: F811
    yield from make_member(cloud)


def neutron(c: RunningCloud, method: str, path: str, token: str, body: Any = None
            ) -> httpx.Response:
    return httpx.request(method, f"{c.base_url}/networking/v2.0{path}", json=body,
                         headers={"X-Auth-Token": token})


def refused(r: httpx.Response, status: int, kind: str, words: str) -> None:
    """Neutron's own fault body, with a message naming what was refused."""
    assert r.status_code == status, r.text
    err = r.json()["NeutronError"]
    assert set(err) == {"type", "message", "detail"}, err
    assert err["type"] == kind, err
    assert words in err["message"], err


def make_net(c: RunningCloud, token: str, cidr: str, **extra: Any) -> Net:
    r = neutron(c, "POST", "/networks", token, {"network": {
        "name": f"n-{uuid.uuid4().hex[:6]}", **extra}})
    assert r.status_code == 201, r.text
    net = r.json()["network"]["id"]
    owner = {"project_id": extra["project_id"]} if "project_id" in extra else {}
    r = neutron(c, "POST", "/subnets", c.admin_token() if extra else token, {"subnet": {
        "network_id": net, "cidr": cidr, "ip_version": 4 if "." in cidr else 6, **owner}})
    assert r.status_code == 201, r.text
    return Net(net, r.json()["subnet"]["id"], cidr)


def _host(net: Net, n: int) -> str:
    return str(ipaddress.ip_network(net.cidr)[n])


ATTACKS: list[tuple[str, dict[str, Any], str]] = [
    ("port_security_enabled", {"port_security_enabled": False},
     "create_port:port_security_enabled"),
    ("allowed_address_pairs", {"allowed_address_pairs": [{"ip_address": "0.0.0.0/0"}]},
     "create_port:allowed_address_pairs"),
    ("fixed ip", {"fixed_ips": [{"ip_address": "@5"}]}, "create_port:fixed_ips:ip_address"),
    ("mac_address", {"mac_address": "fa:16:3e:00:00:01"}, "create_port:mac_address"),
    ("dhcp owner", {"device_owner": "network:dhcp"}, "create_port:device_owner"),
    ("router owner", {"device_owner": "network:router_interface"},
     "create_port:device_owner"),
    ("binding host", {"binding:host_id": "compute-test"}, "create_port:binding:host_id"),
]


def _fill(body: dict[str, Any], net: Net) -> dict[str, Any]:
    out = dict(body)
    if "fixed_ips" in out:
        out["fixed_ips"] = [{"subnet_id": net.subnet_id, "ip_address": _host(net, 5)}]
    return out


def test_a_member_cannot_take_over_a_shared_network_it_does_not_own(
        cloud: RunningCloud, other: Member) -> None:  # noqa: F811
    admin = cloud.admin_token()
    demo = cloud.token("demo")
    # A network of the second project, shared by admin on its behalf.
    shared = make_net(cloud, admin, "10.131.0.0/24", shared=True,
                      project_id=other.project_id)
    for _name, body, rule in ATTACKS:
        r = neutron(cloud, "POST", "/ports", demo, {"port": {
            "network_id": shared.id, **_fill(body, shared)}})
        refused(r, 403, "PolicyNotAuthorized", f"(rule:{rule}) is disallowed by policy")
    # bulk create is checked item by item
    r = neutron(cloud, "POST", "/ports", demo, {"ports": [
        {"network_id": shared.id}, {"network_id": shared.id, "port_security_enabled": False}]})
    refused(r, 403, "PolicyNotAuthorized", "create_port:port_security_enabled")

    # What a tenant may do there: a port with an address the network picks (by subnet too).
    r = neutron(cloud, "POST", "/ports", demo, {"port": {
        "network_id": shared.id, "fixed_ips": [{"subnet_id": shared.subnet_id}]}})
    assert r.status_code == 201, r.text
    port = r.json()["port"]
    assert port["port_security_enabled"] is True and port["allowed_address_pairs"] == []
    for body, rule in [
            ({"port_security_enabled": False}, "update_port:port_security_enabled"),
            ({"security_groups": [], "port_security_enabled": False},
             "update_port:port_security_enabled"),
            ({"allowed_address_pairs": [{"ip_address": _host(shared, 1),
                                         "mac_address": "fa:16:3e:00:00:02"}]},
             "update_port:allowed_address_pairs"),
            ({"fixed_ips": [{"subnet_id": shared.subnet_id,
                             "ip_address": _host(shared, 1)}]}, "update_port:fixed_ips"),
            ({"fixed_ips": [{"subnet_id": shared.subnet_id}]}, "update_port:fixed_ips"),
            ({"device_owner": "network:dhcp"}, "update_port:device_owner"),
            ({"device_owner": "network:router_interface", "device_id": "x"},
             "update_port:device_owner"),
            ({"mac_address": "fa:16:3e:00:00:03"}, "update_port:mac_address"),
            ({"binding:profile": {"migrating_to": "h"}}, "update_port:binding:profile")]:
        r = neutron(cloud, "PUT", f"/ports/{port['id']}", demo, {"port": body})
        refused(r, 403, "PolicyNotAuthorized", f"(rule:{rule}) is disallowed by policy")
    after = neutron(cloud, "GET", f"/ports/{port['id']}", demo).json()["port"]
    assert after["port_security_enabled"] is True and after["allowed_address_pairs"] == []
    assert after["fixed_ips"] == port["fixed_ips"] and after["device_owner"] == ""
    # an ordinary owner string and a name stay the tenant's to set
    r = neutron(cloud, "PUT", f"/ports/{port['id']}", demo, {"port": {
        "name": "mine", "device_owner": "compute:nova"}})
    assert r.status_code == 200, r.text

    # The network's owner (a plain member of the second project) may do all of it there.
    r = neutron(cloud, "POST", "/ports", other.token, {"port": {
        "network_id": shared.id, "port_security_enabled": False,
        "fixed_ips": [{"subnet_id": shared.subnet_id, "ip_address": _host(shared, 7)}],
        "mac_address": "fa:16:3e:00:00:07", "device_owner": "network:router_interface"}})
    assert r.status_code == 201, r.text
    r = neutron(cloud, "POST", "/ports", other.token, {"port": {
        "network_id": shared.id, "allowed_address_pairs": [{"ip_address": "10.131.0.0/28"}]}})
    assert r.status_code == 201, r.text


def test_an_owner_keeps_every_port_attribute_on_its_own_network(
        cloud: RunningCloud) -> None:  # noqa: F811
    demo = cloud.token("demo")
    own = make_net(cloud, demo, "10.132.0.0/24")
    r = neutron(cloud, "POST", "/ports", demo, {"port": {
        "network_id": own.id, "port_security_enabled": False,
        "fixed_ips": [{"subnet_id": own.subnet_id, "ip_address": _host(own, 9)}]}})
    assert r.status_code == 201, r.text
    port = r.json()["port"]
    assert port["port_security_enabled"] is False and port["security_groups"] == []
    r = neutron(cloud, "PUT", f"/ports/{port['id']}", demo, {"port": {
        "port_security_enabled": True, "allowed_address_pairs": [
            {"ip_address": _host(own, 10)}],
        "fixed_ips": [{"subnet_id": own.subnet_id, "ip_address": _host(own, 11)}]}})
    assert r.status_code == 200, r.text
    body = r.json()["port"]
    assert body["allowed_address_pairs"][0]["ip_address"] == _host(own, 10)
    assert body["fixed_ips"][0]["ip_address"] == _host(own, 11)
