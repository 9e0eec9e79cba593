"""A compute host's credential reads only what its own guests need (security review finding
11): ``GET /internal/agent/v1/hosts/{h}/network`` used to return every tenant's ports, MACs,
addresses, security group rules, routers, floating IPs and tunnel addresses to any host."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.api.conftest import cloud, pg_server  # noqa: F401  (the API suite's clouds)
from tests.api.test_agent_http import create_credential
from tests.security.test_network_ports import make_net, neutron
from tests.support.server import RunningCloud


def test_a_hosts_credential_sees_its_own_guests_networks_only(
        cloud: RunningCloud, tmp_path: Path) -> None:  # noqa: F811
    admin, demo = cloud.admin_token(), cloud.token("demo")
    host = f"sec-host-{tmp_path.name[-6:]}"
    secret = create_credential(cloud, host, tmp_path / "cred")
    url = f"{cloud.base_url}/internal/agent/v1/hosts/{host}/network"
    bearer = {"Authorization": f"Bearer {secret}"}
    # another tenant's guest elsewhere, with a router and a floating IP of its own
    theirs = make_net(cloud, demo, "10.181.0.0/24")
    victim = neutron(cloud, "POST", "/ports", admin, {"port": {
        "network_id": theirs.id, "project_id": cloud.accounts["demo"].project_id,
        "device_owner": "compute:nova", "binding:host_id": "compute-test"}})
    assert victim.status_code == 201, victim.text
    router = neutron(cloud, "POST", "/routers", demo, {"router": {"name": "r"}})
    assert router.status_code == 201, router.text

    state = httpx.get(url, headers=bearer).json()
    assert state["ports"] == {} and state["networks"] == {}
    assert state["routers"] == {} and state["floatingips"] == []
    assert victim.json()["port"]["mac_address"] not in repr(state)
    assert set(state["vteps"]) <= {host, state["network_node"]}

    # a guest of this host: its network and that network's ports, nothing else
    mine = make_net(cloud, admin, "10.182.0.0/24")
    guest = neutron(cloud, "POST", "/ports", admin, {"port": {
        "network_id": mine.id, "device_owner": "compute:nova", "binding:host_id": host}})
    assert guest.status_code == 201, guest.text
    state = httpx.get(url, headers=bearer).json()
    assert set(state["networks"]) == {mine.id}
    assert guest.json()["port"]["id"] in state["ports"]
    assert victim.json()["port"]["id"] not in state["ports"]
    # and another host's view stays out of reach
    r = httpx.get(f"{cloud.base_url}/internal/agent/v1/hosts/compute-test/network",
                  headers=bearer)
    assert r.status_code == 403, r.text
