"""Router interfaces only on the caller's own subnets (security review finding 5): by
subnet id, an interface takes the subnet's gateway address, so one on ``public`` (whose
gateway is this host's own address) or on another project's shared subnet would make the
caller's router the gateway of everyone there. Neutron's l3 code refuses subnets of other
projects; no interface goes on an external network, for admins either."""

from __future__ import annotations

import httpx

from tests.api.conftest import cloud, pg_server  # noqa: F401  (the API suite's clouds)
from tests.security.test_network_ports import (  # noqa: F401  (fixture)
    Member,
    make_net,
    neutron,
    other,
    refused,
)
from tests.support.server import RunningCloud


def _public(c: RunningCloud) -> tuple[str, str, str]:
    """(network, subnet, gateway address) of the external network ``public``."""
    admin = c.admin_token()
    nets = neutron(c, "GET", "/networks?router:external=True&name=public", admin).json()
    if not nets["networks"]:  # as ``onestack up`` makes it
        r = neutron(c, "POST", "/networks", admin, {"network": {
            "name": "public", "router:external": True, "provider:network_type": "flat",
            "provider:physical_network": "public"}})
        assert r.status_code == 201, r.text
        r = neutron(c, "POST", "/subnets", admin, {"subnet": {
            "network_id": r.json()["network"]["id"], "cidr": "172.24.4.0/24",
            "ip_version": 4, "gateway_ip": "172.24.4.1", "enable_dhcp": False}})
        assert r.status_code == 201, r.text
        return _public(c)
    net = nets["networks"][0]
    sub = neutron(c, "GET", f"/subnets/{net['subnets'][0]}", admin).json()["subnet"]
    return net["id"], sub["id"], sub["gateway_ip"]


def _router(c: RunningCloud, token: str) -> str:
    r = neutron(c, "POST", "/routers", token, {"router": {"name": "r"}})
    assert r.status_code == 201, r.text
    return str(r.json()["router"]["id"])


def _add(c: RunningCloud, token: str, router: str, **body: str) -> httpx.Response:
    return neutron(c, "PUT", f"/routers/{router}/add_router_interface", token, body)


def test_no_interface_on_public_or_on_someone_elses_shared_subnet(
        cloud: RunningCloud, other: Member) -> None:  # noqa: F811
    demo, admin = cloud.token("demo"), cloud.admin_token()
    pub_net, pub_sub, host_ip = _public(cloud)
    router = _router(cloud, demo)
    # the host's own address on the external network
    r = _add(cloud, demo, router, subnet_id=pub_sub)
    refused(r, 400, "BadRequest", f"Cannot add an interface on external network {pub_net}")
    # admins neither: the gateway there is the upstream router (this host)
    admin_router = _router(cloud, admin)
    r = _add(cloud, admin, admin_router, subnet_id=pub_sub)
    refused(r, 400, "BadRequest", "external network")
    holders = neutron(cloud, "GET", f"/ports?fixed_ips=ip_address%3D{host_ip}", admin)
    assert holders.json()["ports"] == []
    # nor by a port on the external network
    r = neutron(cloud, "POST", "/ports", admin, {"port": {"network_id": pub_net}})
    assert r.status_code == 201, r.text
    r = _add(cloud, admin, admin_router, port_id=r.json()["port"]["id"])
    refused(r, 400, "BadRequest", "external network")

    # another project's shared subnet: its gateway is that project's router's to take
    shared = make_net(cloud, admin, "10.151.0.0/24", shared=True,
                      project_id=other.project_id)
    r = _add(cloud, demo, router, subnet_id=shared.subnet_id)
    refused(r, 400, "BadRequest", f"Cannot add interface to router because subnet "
            f"{shared.subnet_id} is not owned by project making the request")
    holders = neutron(cloud, "GET", "/ports?fixed_ips=ip_address%3D10.151.0.1", admin)
    assert holders.json()["ports"] == []
    # the network's owner may
    theirs = _router(cloud, other.token)
    r = _add(cloud, other.token, theirs, subnet_id=shared.subnet_id)
    assert r.status_code == 200, r.text

    # a port of the caller's on that shared network, with an address the network picked,
    # may become an interface (Neutron allows it); one holding an address outside the
    # allocation pools (which only the network's owner could give it) may not
    r = neutron(cloud, "POST", "/ports", demo, {"port": {"network_id": shared.id}})
    assert r.status_code == 201, r.text
    r = _add(cloud, demo, router, port_id=r.json()["port"]["id"])
    assert r.status_code == 200, r.text
    # the network's owner sees the demo user's port there, but it is not theirs to attach
    r = neutron(cloud, "POST", "/ports", demo, {"port": {"network_id": shared.id}})
    r = _add(cloud, other.token, theirs, port_id=r.json()["port"]["id"])
    refused(r, 400, "BadRequest", "belongs to another project than the router")
    r = neutron(cloud, "PUT", f"/subnets/{shared.subnet_id}", admin, {"subnet": {
        "allocation_pools": [{"start": "10.151.0.100", "end": "10.151.0.200"}]}})
    assert r.status_code == 200, r.text
    r = neutron(cloud, "POST", "/ports", admin, {"port": {
        "network_id": shared.id, "project_id": cloud.accounts["demo"].project_id,
        "fixed_ips": [{"subnet_id": shared.subnet_id, "ip_address": "10.151.0.9"}]}})
    assert r.status_code == 201, r.text
    demo_router2 = _router(cloud, demo)
    r = _add(cloud, demo, demo_router2, port_id=r.json()["port"]["id"])
    refused(r, 400, "BadRequest", "has an IP address out of the allocation pool of subnet")


def test_own_subnets_still_attach(cloud: RunningCloud) -> None:  # noqa: F811
    demo = cloud.token("demo")
    own = make_net(cloud, demo, "10.152.0.0/24")
    router = _router(cloud, demo)
    r = _add(cloud, demo, router, subnet_id=own.subnet_id)
    assert r.status_code == 200, r.text
    port = neutron(cloud, "GET", f"/ports/{r.json()['port_id']}", demo).json()["port"]
    assert port["fixed_ips"][0]["ip_address"] == "10.152.0.1"
    assert port["device_owner"] == "network:router_interface"
