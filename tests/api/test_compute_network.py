"""Compute meets networking, with the real openstacksdk and `openstack` CLI: ports on server
create (net-id, port-id, fixed IP, auto, none), addresses, the ip filter, delete cleanup,
the os-security-groups proxy and os-interface, isolation between projects, bad input."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openstack
import pytest
from openstack import exceptions as exc

from onestack.core.compute.ports import Ports
from onestack.core.network.service import NetworkService
from onestack.db.engine import Database
from tests.api.conftest import Cli, connect, unique
from tests.support.server import RunningCloud

MV = "2.79"


@pytest.fixture(scope="module")
def image_id(cloud: RunningCloud) -> str:
    conn = connect(cloud)
    img = conn.image.create_image(name=unique("img"), data=b"\0" * 4096, disk_format="raw",
                                  container_format="bare", visibility="public")
    return str(img.id)


def nova(cloud: RunningCloud, method: str, path: str, who: str = "demo",
         version: str = MV, **kw: Any) -> httpx.Response:
    headers = {"X-Auth-Token": cloud.token(who), "OpenStack-API-Version": f"compute {version}"}
    return httpx.request(method, f"{cloud.base_url}/compute/v2.1{path}", headers=headers,
                         timeout=30, **kw)


def wait(conn: openstack.connection.Connection, server_id: str, status: str = "ACTIVE",
         timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        server = conn.compute.get_server(server_id)
        if server.status == status:
            return server
        if time.monotonic() > deadline:
            raise AssertionError(f"server {server_id} is {server.status}, not {status}")
        time.sleep(0.05)


def gone(conn: openstack.connection.Connection, server_id: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while conn.compute.find_server(server_id, ignore_missing=True) is not None:
        if time.monotonic() > deadline:
            raise AssertionError(f"server {server_id} was not deleted")
        time.sleep(0.05)


@pytest.fixture
def net(demo: openstack.connection.Connection) -> Iterator[Any]:
    """A network of the demo project with one IPv4 subnet."""
    n = demo.network.create_network(name=unique("net"))
    sub = demo.network.create_subnet(network_id=n.id, ip_version=4, cidr="10.20.0.0/24",
                                     name=unique("sub"))
    yield n, sub
    for port in demo.network.ports(network_id=n.id):
        with contextlib.suppress(exc.SDKException):
            demo.network.delete_port(port.id)
    with contextlib.suppress(exc.SDKException):
        demo.network.delete_network(n.id)


def boot(conn: openstack.connection.Connection, image_id: str, **kw: Any) -> Any:
    s = conn.compute.create_server(name=unique("vm"), image_id=image_id, flavor_id="42", **kw)
    return wait(conn, s.id)


# --- networks on create --------------------------------------------------------------------
def test_create_on_network_gives_a_bound_port_and_addresses(
        demo: openstack.connection.Connection, image_id: str, net: Any,
        cloud: RunningCloud) -> None:
    n, _sub = net
    server = boot(demo, image_id, networks=[{"uuid": n.id}])
    ports = list(demo.network.ports(device_id=server.id))
    assert len(ports) == 1
    port = ports[0]
    assert port.network_id == n.id and port.device_owner == "compute:nova"
    ip = port.fixed_ips[0]["ip_address"]
    assert ip.startswith("10.20.0.")
    assert server.addresses == {n.name: [{
        "version": 4, "addr": ip, "OS-EXT-IPS:type": "fixed",
        "OS-EXT-IPS-MAC:mac_addr": port.mac_address}]}
    assert [g["name"] for g in server.security_groups] == ["default"]
    # list detail and the ip filter see the same address
    found = list(demo.compute.servers(ip=ip.replace(".", r"\.") + "$"))
    assert [s.id for s in found] == [server.id]
    assert list(demo.compute.servers(ip="10\\.99\\.")) == []
    r = nova(cloud, "GET", f"/servers/{server.id}/ips")
    assert r.json() == {"addresses": {n.name: [{"version": 4, "addr": ip}]}}
    demo.compute.delete_server(server.id)
    gone(demo, server.id)
    assert list(demo.network.ports(device_id=server.id)) == []


def test_create_with_port_and_fixed_ip(demo: openstack.connection.Connection, image_id: str,
                                       net: Any, cloud: RunningCloud) -> None:
    n, _sub = net
    port = demo.network.create_port(network_id=n.id, name=unique("p"))
    server = boot(demo, image_id, networks=[{"port": port.id},
                                            {"uuid": n.id, "fixed_ip": "10.20.0.77"}])
    addrs = [a["addr"] for a in server.addresses[n.name]]
    assert addrs == [port.fixed_ips[0]["ip_address"], "10.20.0.77"]
    assert demo.network.get_port(port.id).device_id == server.id
    # the port is in use now: a second server cannot take it (409), nor the address (400)
    r = nova(cloud, "POST", "/servers", json={"server": {
        "name": "x", "imageRef": image_id, "flavorRef": "42", "networks": [{"port": port.id}]}})
    assert r.status_code == 409, r.text
    assert r.json()["conflictingRequest"]["message"] == f"Port {port.id} is still in use."
    r = nova(cloud, "POST", "/servers", json={"server": {
        "name": "x", "imageRef": image_id, "flavorRef": "42",
        "networks": [{"uuid": n.id, "fixed_ip": "10.20.0.77"}]}})
    assert r.status_code == 400 and "already in use" in r.json()["badRequest"]["message"]
    demo.compute.delete_server(server.id)
    gone(demo, server.id)
    # the user's port stays, unbound; the one Nova made is gone
    kept = demo.network.get_port(port.id)
    assert kept.device_id == "" and kept.device_owner == ""
    assert [p.id for p in demo.network.ports(network_id=n.id)] == [port.id]


def test_bad_network_requests(cloud: RunningCloud, image_id: str, net: Any,
                              admin: openstack.connection.Connection) -> None:
    n, _sub = net

    def create(networks: Any, version: str = MV, **extra: Any) -> httpx.Response:
        body = {"name": "bad", "imageRef": image_id, "flavorRef": "42", **extra}
        if networks is not None:
            body["networks"] = networks
        return nova(cloud, "POST", "/servers", version=version, json={"server": body})

    missing = "8f0a1c4e-0000-4000-8000-000000000000"
    r = create([{"uuid": missing}])
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == f"Network {missing} could not be found."
    r = create([{"port": missing}])
    assert r.status_code == 400 and missing in r.json()["badRequest"]["message"]
    r = create([{"uuid": n.id, "fixed_ip": "192.168.7.7"}])
    assert r.status_code == 400 and "not a valid ip address" in r.text
    r = create([{"uuid": "a-b-c"}])
    assert r.status_code == 400
    assert create(None).status_code == 400  # 2.37+: networks is required
    assert create("auto", version="2.36").status_code == 400
    r = create([{"uuid": n.id, "fixed_ip": "10.20.0.9"}], max_count=2)
    assert r.status_code == 400
    # another project's network and port are not there for demo
    other = admin.network.create_network(name=unique("adm"))
    admin.network.create_subnet(network_id=other.id, ip_version=4, cidr="10.30.0.0/24")
    port = admin.network.create_port(network_id=other.id)
    try:
        r = create([{"uuid": other.id}])
        assert r.status_code == 400 and "could not be found" in r.text
        r = create([{"port": port.id}])
        assert r.status_code == 400
    finally:
        admin.network.delete_port(port.id)
        admin.network.delete_network(other.id)
    # nothing was left behind by the failed requests
    assert list(admin.network.ports(network_id=n.id)) == []
    servers = nova(cloud, "GET", "/servers?name=^bad$").json()["servers"]
    assert servers == []


@pytest.fixture
def fresh(cloud: RunningCloud, admin: openstack.connection.Connection
          ) -> Iterator[openstack.connection.Connection]:
    """A connection to a new project of its own (for networks 'auto')."""
    project = admin.identity.create_project(name=unique("proj"), domain_id="default")
    password = unique("pw")
    user = admin.identity.create_user(name=unique("user"), password=password,
                                      default_project_id=project.id, domain_id="default")
    role = admin.identity.find_role("member")
    admin.identity.assign_project_role_to_user(project, user, role)
    conn = connect(cloud, username=user.name, password=password, project_name=project.name)
    yield conn
    for server in conn.compute.servers():
        conn.compute.delete_server(server.id, force=True)
        gone(conn, server.id)
    for port in conn.network.ports():
        with contextlib.suppress(exc.SDKException):
            conn.network.delete_port(port.id)
    for n in conn.network.networks(project_id=project.id):
        with contextlib.suppress(exc.SDKException):
            conn.network.delete_network(n.id)
    admin.identity.delete_user(user)
    admin.identity.delete_project(project)


def test_auto_picks_the_only_network_and_409s_when_ambiguous(
        fresh: openstack.connection.Connection, image_id: str) -> None:
    bare = boot(fresh, image_id, networks="auto")  # no network of its own: no NIC
    assert bare.addresses == {}
    n1 = fresh.network.create_network(name=unique("a"))
    fresh.network.create_subnet(network_id=n1.id, ip_version=4, cidr="10.40.0.0/24")
    server = boot(fresh, image_id, networks="auto")
    assert list(server.addresses) == [n1.name]
    n2 = fresh.network.create_network(name=unique("b"))
    fresh.network.create_subnet(network_id=n2.id, ip_version=4, cidr="10.41.0.0/24")
    with pytest.raises(exc.ConflictException, match="Multiple possible networks"):
        fresh.compute.create_server(name="amb", image_id=image_id, flavor_id="42",
                                    networks="auto")
    none = boot(fresh, image_id, networks="none")
    assert none.addresses == {}


def test_security_groups_on_create(demo: openstack.connection.Connection, image_id: str,
                                   net: Any, cloud: RunningCloud) -> None:
    n, _sub = net
    sg = demo.network.create_security_group(name=unique("sg"))
    try:
        server = boot(demo, image_id, networks=[{"uuid": n.id}],
                      security_groups=[{"name": sg.name}])
        assert [g["name"] for g in server.security_groups] == [sg.name]
        port = next(iter(demo.network.ports(device_id=server.id)))
        assert port.security_group_ids == [sg.id]
        r = nova(cloud, "POST", "/servers", json={"server": {
            "name": "x", "imageRef": image_id, "flavorRef": "42",
            "networks": [{"uuid": n.id}], "security_groups": [{"name": "nope"}]}})
        assert r.status_code == 400 and "nope" in r.json()["badRequest"]["message"]
        demo.compute.delete_server(server.id)
        gone(demo, server.id)
    finally:
        demo.network.delete_security_group(sg.id)


# --- the CLI -------------------------------------------------------------------------------
@pytest.mark.sqlite_only
def test_cli_nics_and_addresses(cli: Cli, demo: openstack.connection.Connection,
                                image_id: str, net: Any) -> None:
    n, _sub = net
    port = demo.network.create_port(network_id=n.id)
    name = unique("cli")
    cli.run("server", "create", "--image", image_id, "--flavor", "42", "--nic",
            f"net-id={n.id}", "--nic", f"port-id={port.id}", "--wait", name,
            cloud="onestack-demo")
    out = json.loads(cli.run("server", "show", name, "-f", "json",
                             cloud="onestack-demo").stdout)
    ips = [a["addr"] for a in demo.compute.get_server(out["id"]).addresses[n.name]]
    assert demo.network.get_port(port.id).fixed_ips[0]["ip_address"] in ips
    assert n.name in str(out["addresses"])
    cli.run("server", "create", "--image", image_id, "--flavor", "42", "--nic", "none",
            "--wait", name + "-none", cloud="onestack-demo")
    assert demo.compute.find_server(name + "-none").addresses == {}
    for server in (name, name + "-none"):
        cli.run("server", "delete", "--wait", server, cloud="onestack-demo")
    assert demo.network.get_port(port.id).device_id == ""


# --- os-security-groups, add/removeSecurityGroup -------------------------------------------
def test_security_group_proxy(cloud: RunningCloud) -> None:
    def sg(method: str, path: str, version: str = "2.35", **kw: Any) -> httpx.Response:
        return nova(cloud, method, path, version=version, **kw)

    name = f" {unique('sg')} "
    r = sg("POST", "/os-security-groups", json={"security_group": {
        "name": name, "description": "d"}})
    assert r.status_code == 200, r.text
    made = r.json()["security_group"]
    assert made["name"] == name and made["rules"] == [] and made["tenant_id"]
    assert sg("GET", f"/os-security-groups/{made['id']}").json()["security_group"] == made
    listed = sg("GET", "/os-security-groups").json()["security_groups"]
    assert made in listed and "default" in [g["name"] for g in listed]
    r = sg("PUT", f"/os-security-groups/{made['id']}", json={"security_group": {
        "name": "renamed", "description": "new"}})
    assert r.json()["security_group"]["name"] == "renamed"
    r = sg("POST", "/os-security-group-rules", json={"security_group_rule": {
        "parent_group_id": made["id"], "ip_protocol": "tcp", "from_port": 22, "to_port": 22,
        "cidr": "10.0.0.0/8"}})
    assert r.status_code == 200, r.text
    rule = r.json()["security_group_rule"]
    assert rule == {"id": rule["id"], "parent_group_id": made["id"], "ip_protocol": "tcp",
                    "from_port": 22, "to_port": 22, "group": {},
                    "ip_range": {"cidr": "10.0.0.0/8"}}
    r = sg("POST", "/os-security-group-rules", json={"security_group_rule": {
        "parent_group_id": made["id"], "ip_protocol": "tcp", "from_port": 22, "to_port": 22,
        "cidr": "10.0.0.0/8"}})
    assert r.status_code == 400 and "already exists" in r.text
    r = sg("POST", "/os-security-group-rules", json={"security_group_rule": {
        "parent_group_id": made["id"], "ip_protocol": "tcp", "from_port": 99999,
        "to_port": 1}})
    assert r.status_code == 400
    shown = sg("GET", f"/os-security-groups/{made['id']}").json()["security_group"]
    assert [x["id"] for x in shown["rules"]] == [rule["id"]]
    assert sg("DELETE", f"/os-security-group-rules/{rule['id']}").status_code == 202
    assert sg("DELETE", f"/os-security-group-rules/{rule['id']}").status_code == 404
    # gone from 2.36, as in Nova
    assert sg("GET", "/os-security-groups", version="2.36").status_code == 404
    default = next(g for g in listed if g["name"] == "default")
    assert sg("DELETE", f"/os-security-groups/{default['id']}").status_code == 400
    assert sg("DELETE", f"/os-security-groups/{made['id']}").status_code == 202
    r = sg("GET", f"/os-security-groups/{made['id']}")
    assert r.status_code == 404
    assert r.json()["itemNotFound"]["message"] == f"Security group {made['id']} not found."
    # another project's group is not there for demo
    other = nova(cloud, "POST", "/os-security-groups", who="admin", version="2.35", json={
        "security_group": {"name": "adm", "description": "x"}}).json()["security_group"]
    assert sg("GET", f"/os-security-groups/{other['id']}").status_code == 404
    assert sg("DELETE", f"/os-security-groups/{other['id']}").status_code == 404
    nova(cloud, "DELETE", f"/os-security-groups/{other['id']}", who="admin", version="2.35")


def test_add_and_remove_security_group(cli: Cli, demo: openstack.connection.Connection,
                                       image_id: str, net: Any, cloud: RunningCloud) -> None:
    n, _sub = net
    sg = demo.network.create_security_group(name=unique("sg"))
    server = boot(demo, image_id, networks=[{"uuid": n.id}])
    try:
        cli.run("server", "add", "security", "group", server.id, sg.name,
                cloud="onestack-demo")
        names = [g["name"] for g in demo.compute.get_server(server.id).security_groups]
        assert sorted(names) == sorted(["default", sg.name])
        r = nova(cloud, "GET", f"/servers/{server.id}/os-security-groups")
        assert sg.id in [g["id"] for g in r.json()["security_groups"]]
        # in use: the proxy will not delete it
        assert nova(cloud, "DELETE", f"/os-security-groups/{sg.id}",
                    version="2.35").status_code == 400
        r = nova(cloud, "POST", f"/servers/{server.id}/action",
                 json={"addSecurityGroup": {"name": sg.name}})
        assert r.status_code == 400 and "already associated" in r.text
        demo.compute.remove_security_group_from_server(server, sg)
        names = [g["name"] for g in demo.compute.get_server(server.id).security_groups]
        assert names == ["default"]
        r = nova(cloud, "POST", f"/servers/{server.id}/action",
                 json={"removeSecurityGroup": {"name": sg.name}})
        assert r.status_code == 400 and "not associated" in r.text
        r = nova(cloud, "POST", f"/servers/{server.id}/action",
                 json={"addSecurityGroup": {"name": "nope"}})
        assert r.status_code == 404
    finally:
        demo.compute.delete_server(server.id)
        gone(demo, server.id)
        demo.network.delete_security_group(sg.id)


# --- os-interface --------------------------------------------------------------------------
def test_interface_attach_list_detach(cli: Cli, demo: openstack.connection.Connection,
                                      image_id: str, net: Any, cloud: RunningCloud,
                                      admin: openstack.connection.Connection) -> None:
    n, sub = net
    server = boot(demo, image_id, networks="none")
    try:
        assert list(demo.compute.server_interfaces(server)) == []
        att = demo.compute.create_server_interface(server, net_id=n.id)
        assert att.net_id == n.id and att.fixed_ips[0]["subnet_id"] == sub.id
        port = admin.network.get_port(att.port_id)  # binding:host_id is for admins
        assert port.device_id == server.id and port.binding_host_id == "compute-test"
        shown = nova(cloud, "GET", f"/servers/{server.id}/os-interface/{att.port_id}").json()
        assert shown["interfaceAttachment"]["mac_addr"] == port.mac_address
        assert list(demo.compute.get_server(server.id).addresses) == [n.name]
        user_port = demo.network.create_port(network_id=n.id)
        cli.run("server", "add", "port", server.id, user_port.id, cloud="onestack-demo")
        ids = [i.port_id for i in demo.compute.server_interfaces(server)]
        assert ids == [att.port_id, user_port.id]
        cli.run("server", "remove", "port", server.id, user_port.id, cloud="onestack-demo")
        assert demo.network.get_port(user_port.id).device_id == ""
        demo.compute.delete_server_interface(att.port_id, server=server)
        assert demo.network.find_port(att.port_id) is None
        assert nova(cloud, "DELETE", f"/servers/{server.id}/os-interface/{att.port_id}"
                    ).status_code == 404
        # another project's port and network are not attachable; its server is not there
        other = admin.network.create_network(name=unique("adm"))
        admin.network.create_subnet(network_id=other.id, ip_version=4, cidr="10.31.0.0/24")
        try:
            r = nova(cloud, "POST", f"/servers/{server.id}/os-interface",
                     json={"interfaceAttachment": {"net_id": other.id}})
            assert r.status_code == 400, r.text
        finally:
            admin.network.delete_network(other.id)
        r = nova(cloud, "GET", f"/servers/{server.id}/os-interface", who="admin")
        assert r.status_code == 200  # admin sees every project's server
        demo.network.delete_port(user_port.id)
    finally:
        demo.compute.delete_server(server.id)
        gone(demo, server.id)


def test_network_data_for_the_agent(cloud: RunningCloud, demo: openstack.connection.Connection,
                                    image_id: str, net: Any) -> None:
    n, sub = net
    server = boot(demo, image_id, networks=[{"uuid": n.id}])

    async def read() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        db = Database(cloud.settings.database_url)
        try:
            ports = Ports(db, NetworkService(db))
            return await ports.nics_for(server.id), await ports.network_data(server.id)
        finally:
            await db.close()

    nics, data = asyncio.run(read())
    assert len(nics) == 1
    nic = nics[0]
    assert nic["network_id"] == n.id and nic["mtu"] > 0 and nic["tap"].startswith("tap")
    assert nic["fixed_ips"][0]["subnet_id"] == sub.id
    assert data["links"] == [{"id": nic["tap"], "vif_id": nic["port_id"], "type": "bridge",
                              "ethernet_mac_address": nic["mac"], "mtu": nic["mtu"]}]
    assert data["networks"] == [{"id": "network0", "link": nic["tap"], "network_id": n.id,
                                 "type": "ipv4_dhcp"}]
    demo.compute.delete_server(server.id)
    gone(demo, server.id)


def test_floating_ip_shows_on_its_fixed_ips_network(
        demo: openstack.connection.Connection, admin: openstack.connection.Connection,
        image_id: str, net: Any) -> None:
    n, sub = net
    ext = admin.network.create_network(name=unique("ext"), is_router_external=True)
    admin.network.create_subnet(network_id=ext.id, ip_version=4, cidr="172.30.9.0/24")
    router = demo.network.create_router(name=unique("r"),
                                        external_gateway_info={"network_id": ext.id})
    demo.network.add_interface_to_router(router, subnet_id=sub.id)
    server = boot(demo, image_id, networks=[{"uuid": n.id}])
    port = next(iter(demo.network.ports(device_id=server.id)))
    fip = demo.network.create_ip(floating_network_id=ext.id, port_id=port.id)
    try:
        addrs = demo.compute.get_server(server.id).addresses[n.name]
        assert [(a["addr"], a["OS-EXT-IPS:type"]) for a in addrs] == [
            (port.fixed_ips[0]["ip_address"], "fixed"), (fip.floating_ip_address, "floating")]
        assert addrs[1]["OS-EXT-IPS-MAC:mac_addr"] == port.mac_address
    finally:
        demo.compute.delete_server(server.id)
        gone(demo, server.id)
        demo.network.delete_ip(fip.id)
        demo.network.remove_interface_from_router(router, subnet_id=sub.id)
        demo.network.delete_router(router.id)
        admin.network.delete_network(ext.id)
