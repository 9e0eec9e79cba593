"""Neutron v2.0 through the real openstacksdk: the happy paths and the issue's bad ones."""

from __future__ import annotations

import ipaddress
from concurrent.futures import ThreadPoolExecutor

import httpx
import openstack
import pytest
from openstack import exceptions as exc

from tests.api.conftest import connect, unique
from tests.support.server import RunningCloud

Conn = openstack.connection.Connection


def _net(conn: Conn, cidr: str = "10.10.0.0/24", **kw: object) -> tuple[object, object]:
    net = conn.network.create_network(name=unique("net"), **kw)
    sub = conn.network.create_subnet(network_id=net.id, cidr=cidr, ip_version=4,
                                     name=unique("sub"))
    return net, sub


def _public(admin: Conn) -> tuple[object, object]:
    found = list(admin.network.networks(name="public"))
    if found:
        net = found[0]
        return net, admin.network.get_subnet(net.subnet_ids[0])
    net = admin.network.create_network(name="public", is_router_external=True,
                                       provider_network_type="flat",
                                       provider_physical_network="public")
    sub = admin.network.create_subnet(network_id=net.id, cidr="172.24.4.0/24", ip_version=4)
    return net, sub


def _neutron_error(cloud: RunningCloud, method: str, path: str, body: object = None,
                   who: str = "admin", headers: dict[str, str] | None = None
                   ) -> httpx.Response:
    h = {"X-Auth-Token": cloud.token(who), **(headers or {})}
    return httpx.request(method, f"{cloud.base_url}/networking{path}", json=body, headers=h)


def test_versions_and_extensions(cloud: RunningCloud, admin: Conn) -> None:
    r = httpx.get(f"{cloud.base_url}/networking")
    assert r.json()["versions"][0]["id"] == "v2.0"
    aliases = {e.alias for e in admin.network.extensions()}
    assert {"router", "external-net", "extraroute", "security-group",
            "subnet_allocation", "quotas"} <= aliases


def test_network_subnet_port_crud(admin: Conn) -> None:
    net, sub = _net(admin)
    assert net.status == "ACTIVE" and net.mtu == 1450
    assert net.provider_network_type == "vxlan" and net.provider_segmentation_id
    assert sub.gateway_ip == "10.10.0.1"
    assert sub.allocation_pools == [{"start": "10.10.0.2", "end": "10.10.0.254"}]
    port = admin.network.create_port(network_id=net.id, name="p1")
    assert port.mac_address.startswith("fa:16:3e:")
    assert port.status == "DOWN" and port.binding_vif_type == "unbound"
    ip = port.fixed_ips[0]["ip_address"]
    assert ip not in ("10.10.0.0", "10.10.0.1", "10.10.0.255")
    assert len(port.security_group_ids) == 1
    port = admin.network.update_port(port, name="p2", binding_host_id="host-1")
    assert port.name == "p2" and port.binding_host_id == "host-1"
    assert port.revision_number >= 1
    found = list(admin.network.ports(fixed_ips=f"ip_address={ip}"))
    assert [p.id for p in found] == [port.id]
    with pytest.raises(exc.ConflictException):
        admin.network.delete_network(net)
    admin.network.delete_port(port)
    admin.network.delete_network(net)
    with pytest.raises(exc.NotFoundException):
        admin.network.get_subnet(sub.id)


def test_subnet_negative_paths(admin: Conn) -> None:
    net, sub = _net(admin, "10.11.0.0/24")
    with pytest.raises(exc.BadRequestException, match="overlaps with another subnet"):
        admin.network.create_subnet(network_id=net.id, cidr="10.11.0.128/25", ip_version=4)
    with pytest.raises(exc.BadRequestException):
        admin.network.create_port(network_id=net.id, fixed_ips=[
            {"subnet_id": sub.id, "ip_address": "10.12.0.5"}])
    admin.network.create_port(network_id=net.id, fixed_ips=[
        {"subnet_id": sub.id, "ip_address": "10.11.0.5"}])
    with pytest.raises(exc.ConflictException, match=r"IpAddressAlreadyAllocated|already"):
        admin.network.create_port(network_id=net.id, fixed_ips=[
            {"subnet_id": sub.id, "ip_address": "10.11.0.5"}])


def test_fault_body_is_neutron_error(cloud: RunningCloud) -> None:
    r = _neutron_error(cloud, "GET", "/v2.0/networks/nope")
    assert r.status_code == 404
    assert r.json()["NeutronError"]["type"] == "NetworkNotFound"


def test_ipv6_slaac_uses_eui64(admin: Conn) -> None:
    net = admin.network.create_network(name=unique("v6"))
    sub = admin.network.create_subnet(network_id=net.id, cidr="2001:db8:1::/64", ip_version=6,
                                      ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    port = admin.network.create_port(network_id=net.id, mac_address="fa:16:3e:00:11:22")
    assert port.fixed_ips == [{"subnet_id": sub.id,
                               "ip_address": "2001:db8:1:0:f816:3eff:fe00:1122"}]
    with pytest.raises(exc.BadRequestException):
        admin.network.create_subnet(network_id=net.id, cidr="2001:db8:2::/64", ip_version=6,
                                    ipv6_ra_mode="slaac", ipv6_address_mode="dhcpv6-stateful")


def test_concurrent_ports_never_share_an_address(cloud: RunningCloud, admin: Conn) -> None:
    net, _sub = _net(admin, "10.20.0.0/26")
    token = cloud.admin_token()
    url = f"{cloud.base_url}/networking/v2.0/ports"

    def create(i: int) -> httpx.Response:
        return httpx.post(url, json={"port": {"network_id": net.id, "name": f"c{i}"}},
                          headers={"X-Auth-Token": token}, timeout=60)

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(create, range(50)))
    assert [r.status_code for r in responses] == [201] * 50
    ips = [r.json()["port"]["fixed_ips"][0]["ip_address"] for r in responses]
    assert len(set(ips)) == 50
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("10.20.0.0/26") for ip in ips)
    assert "10.20.0.1" not in ips


def test_pagination_and_sorting(admin: Conn) -> None:
    tag = unique("page")
    ids = [admin.network.create_network(name=f"{tag}-{i}").id for i in range(5)]
    for net_id in ids:
        admin.network.set_tags(admin.network.get_network(net_id), [tag])
    names = [n.name for n in admin.network.networks(tags=tag, limit=2, sort_key="name",
                                                     sort_dir="desc")]
    assert names == [f"{tag}-{i}" for i in range(4, -1, -1)]
    r = admin.network.get("/networks", params={"tags": tag, "limit": 2, "sort_key": "name"})
    body = r.json()
    assert len(body["networks"]) == 2
    assert [link["rel"] for link in body["networks_links"]] == ["next"]


def test_revision_number_and_if_match(cloud: RunningCloud, admin: Conn) -> None:
    net = admin.network.create_network(name=unique("rev"))
    rev = net.revision_number
    r = _neutron_error(cloud, "PUT", f"/v2.0/networks/{net.id}", {"network": {"name": "x"}},
                       headers={"If-Match": f"revision_number={rev + 5}"})
    assert r.status_code == 412
    r = _neutron_error(cloud, "PUT", f"/v2.0/networks/{net.id}", {"network": {"name": "x"}},
                       headers={"If-Match": f"revision_number={rev}"})
    assert r.status_code == 200 and r.json()["network"]["revision_number"] == rev + 1
    assert r.json()["network"]["updated_at"].endswith("Z")


def test_two_project_isolation(cloud: RunningCloud, admin: Conn) -> None:
    demo = connect(cloud, "demo")
    private = admin.network.create_network(name=unique("private"))
    shared = admin.network.create_network(name=unique("shared"), is_shared=True)
    with pytest.raises(exc.NotFoundException):
        demo.network.get_network(private.id)
    assert demo.network.get_network(shared.id).id == shared.id
    visible = {n.id for n in demo.network.networks()}
    assert shared.id in visible and private.id not in visible
    assert demo.network.get_network(shared.id).provider_network_type is None
    with pytest.raises(exc.ForbiddenException):
        demo.network.create_network(name=unique("x"), is_router_external=True)
    with pytest.raises(exc.ForbiddenException):
        demo.network.update_network(shared, name="mine")
    with pytest.raises(exc.NotFoundException):
        demo.network.create_port(network_id=private.id)
    with pytest.raises(exc.ForbiddenException):
        demo.network.create_subnet(network_id=shared.id, cidr="10.50.0.0/24", ip_version=4)
    own = demo.network.create_network(name=unique("own"))
    sub = demo.network.create_subnet(network_id=own.id, cidr="10.51.0.0/24", ip_version=4)
    port = demo.network.create_port(network_id=own.id, fixed_ips=[
        {"subnet_id": sub.id, "ip_address": "10.51.0.9"}])
    assert port.fixed_ips[0]["ip_address"] == "10.51.0.9"
    assert port.binding_host_id is None


def test_security_groups_and_rules(cloud: RunningCloud) -> None:
    demo = connect(cloud, "demo")
    groups = list(demo.network.security_groups(name="default"))
    assert len(groups) == 1
    rules = groups[0].security_group_rules
    assert {(r["direction"], r["ethertype"], r["remote_group_id"] is not None)
            for r in rules} == {("egress", "IPv4", False), ("egress", "IPv6", False),
                                ("ingress", "IPv4", True), ("ingress", "IPv6", True)}
    sg = demo.network.create_security_group(name=unique("sg"))
    rule = demo.network.create_security_group_rule(
        security_group_id=sg.id, direction="ingress", protocol="tcp", port_range_min=22,
        port_range_max=22, remote_ip_prefix="0.0.0.0/0")
    with pytest.raises(exc.ConflictException):
        demo.network.create_security_group_rule(
            security_group_id=sg.id, direction="ingress", protocol="6", port_range_min=22,
            port_range_max=22, remote_ip_prefix="0.0.0.0/0")
    with pytest.raises(exc.BadRequestException, match="port_range_min must be <="):
        demo.network.create_security_group_rule(
            security_group_id=sg.id, direction="ingress", protocol="tcp",
            port_range_min=80, port_range_max=79)
    with pytest.raises(exc.ConflictException):
        demo.network.create_security_group(name="default")
    demo.network.delete_security_group_rule(rule)
    demo.network.delete_security_group(sg)


def test_router_and_floating_ip(admin: Conn) -> None:
    public, _pub_sub = _public(admin)
    net, sub = _net(admin, "10.30.0.0/24")
    port = admin.network.create_port(network_id=net.id)
    router = admin.network.create_router(name=unique("r"),
                                         external_gateway_info={"network_id": public.id})
    fip = admin.network.create_ip(floating_network_id=public.id)
    with pytest.raises(exc.NotFoundException):
        admin.network.update_ip(fip, port_id=port.id)
    admin.network.add_interface_to_router(router, subnet_id=sub.id)
    fip = admin.network.update_ip(fip, port_id=port.id)
    assert fip.router_id == router.id
    assert fip.fixed_ip_address == port.fixed_ips[0]["ip_address"]
    router = admin.network.update_router(router, routes=[
        {"destination": "192.168.50.0/24", "nexthop": "10.30.0.7"}])
    assert router.routes == [{"destination": "192.168.50.0/24", "nexthop": "10.30.0.7"}]
    with pytest.raises(exc.ConflictException):
        admin.network.remove_interface_from_router(router, subnet_id=sub.id)
    with pytest.raises(exc.ConflictException):
        admin.network.delete_router(router)
    admin.network.update_ip(fip, port_id=None)
    admin.network.update_router(router, routes=[])
    admin.network.remove_interface_from_router(router, subnet_id=sub.id)
    admin.network.delete_ip(fip)
    admin.network.delete_router(router)


def test_subnet_pool_allocation(admin: Conn) -> None:
    pool = admin.network.create_subnet_pool(name=unique("pool"), prefixes=["10.200.0.0/16"],
                                            default_prefixlen=24)
    net = admin.network.create_network(name=unique("pooled"))
    first = admin.network.create_subnet(network_id=net.id, subnet_pool_id=pool.id,
                                        ip_version=4)
    second = admin.network.create_subnet(network_id=admin.network.create_network(
        name=unique("pooled")).id, subnet_pool_id=pool.id, ip_version=4, prefix_length=26)
    assert first.cidr == "10.200.0.0/24"
    assert second.cidr == "10.200.1.0/26"
    with pytest.raises(exc.ConflictException):
        admin.network.delete_subnet_pool(pool)


def test_quotas_are_enforced(cloud: RunningCloud, admin: Conn) -> None:
    project = cloud.accounts["demo"].project_id
    admin.network.update_quota(project, routers=1)
    demo = connect(cloud, "demo")
    router = demo.network.create_router(name=unique("q"))
    with pytest.raises(exc.ConflictException, match="Quota exceeded"):
        demo.network.create_router(name=unique("q"))
    assert admin.network.get_quota(project).routers == 1
    demo.network.delete_router(router)
    admin.network.delete_quota(project)
    assert admin.network.get_quota(project).routers == 10
