"""Neutron's agents API and DHCP agent scheduler: the data plane per host, through the real
openstacksdk and `openstack network agent` (tests/api clouds run no data plane of their
own: the compute host heartbeats, and the DHCP port a network node's agent makes is made
here as that agent makes it)."""

from __future__ import annotations

from typing import Any

import httpx
import openstack
import pytest
from openstack import exceptions as exc

from tests.api.conftest import Cli, unique
from tests.support.server import RunningCloud

Conn = openstack.connection.Connection
HOST = "compute-test"  # the test cloud's compute host (FakeVirtDriver)


def _by_type(conn: Conn, host: str = HOST) -> dict[str, Any]:
    return {a.agent_type: a for a in conn.network.agents(host=host)}


def _network_node(admin: Conn) -> tuple[Any, Any]:
    """A network with a subnet and its DHCP port on HOST, as the network node's agent
    makes it (project-less, network:dhcp, bound to the host)."""
    net = admin.network.create_network(name=unique("agents"))
    admin.network.create_subnet(network_id=net.id, cidr="10.77.0.0/24", ip_version=4)
    port = admin.network.create_port(network_id=net.id, project_id="",
                                     device_owner="network:dhcp", device_id=f"dhcp-{HOST}",
                                     binding_host_id=HOST)
    return net, port


def test_agents_of_the_data_plane(cloud: RunningCloud, admin: Conn, demo: Conn, cli: Cli
                                  ) -> None:
    net, _port = _network_node(admin)
    agents = _by_type(admin)
    assert {"Linux bridge agent", "DHCP agent", "L3 agent", "Metadata agent"} <= set(agents)
    dhcp = agents["DHCP agent"]
    assert dhcp.is_alive and dhcp.is_admin_state_up
    assert dhcp.binary == "neutron-dhcp-agent" and dhcp.availability_zone == "nova"
    assert dhcp.configuration["dhcp_driver"] == "dnsmasq"
    assert dhcp.last_heartbeat_at  # "YYYY-MM-DD hh:mm:ss", as Neutron
    # the agent_type filter matches as Neutron's MySQL does (tempest asks for "DHCP Agent")
    assert [a.id for a in admin.network.agents(agent_type="DHCP Agent", host=HOST)] == \
        [dhcp.id]
    assert not list(admin.network.agents(agent_type="DHCP agent", alive=False, host=HOST))

    # the DHCP scheduler answers where the network's DHCP is served
    assert net.id in [n.id for n in admin.network.dhcp_agent_hosting_networks(dhcp)]
    assert [a.id for a in admin.network.network_hosting_dhcp_agents(net)] == [dhcp.id]
    admin.network.remove_dhcp_agent_from_network(dhcp, net)
    assert not [p for p in admin.network.ports(network_id=net.id)
                if p.device_owner == "network:dhcp"]
    assert net.id not in [n.id for n in admin.network.dhcp_agent_hosting_networks(dhcp)]
    admin.network.add_dhcp_agent_to_network(dhcp, net)
    assert net.id in [n.id for n in admin.network.dhcp_agent_hosting_networks(dhcp)]
    again = admin.network.post(f"/agents/{dhcp.id}/dhcp-networks",
                               json={"network_id": net.id})
    assert again.status_code == 409, again.text
    assert again.json()["NeutronError"]["type"] == "NetworkHostedByDHCPAgent"

    # the operator's attributes; then the CLI's view
    updated = admin.network.update_agent(dhcp, description="rack 4", is_admin_state_up=False)
    assert updated.description == "rack 4" and not updated.is_admin_state_up
    if cloud.settings.database_url.startswith("sqlite"):  # the CLI reads no database
        listed = cli.run("network", "agent", "list", "--agent-type", "dhcp", "-f", "value",
                         "-c", "ID", "-c", "Host", "-c", "Alive").stdout
        assert f"{dhcp.id} {HOST} True" in listed

    # other projects see no agents and may not touch them
    assert list(demo.network.agents()) == []
    with pytest.raises(exc.ForbiddenException):
        demo.network.get_agent(dhcp.id)
    with pytest.raises(exc.ForbiddenException):
        demo.network.delete_agent(dhcp.id, ignore_missing=False)
    with pytest.raises(exc.ForbiddenException):
        list(demo.network.network_hosting_dhcp_agents(net))

    # a live agent deleted registers again, with a new id and the defaults
    admin.network.delete_agent(dhcp)
    with pytest.raises(exc.NotFoundException):
        admin.network.get_agent(dhcp.id)
    again = _by_type(admin)["DHCP agent"]
    assert again.id != dhcp.id and again.is_admin_state_up and again.description is None
    admin.network.delete_network(net)


def test_agent_bad_input(cloud: RunningCloud, admin: Conn) -> None:
    agent = _by_type(admin)["Linux bridge agent"]
    base = f"{cloud.base_url}/networking/v2.0"
    token = admin.session.get_token()
    h = {"X-Auth-Token": token}
    for body, field in (({"agent": {"host": "other"}}, "host"),
                        ({"agent": {"admin_state_up": "maybe"}}, "admin_state_up"),
                        ({"agent": {"description": 5}}, "description")):
        r = httpx.put(f"{base}/agents/{agent.id}", json=body, headers=h)
        assert r.status_code == 400, r.text
        assert field in r.json()["NeutronError"]["message"]
    r = httpx.post(f"{base}/agents/{agent.id}/dhcp-networks", json={"net": "x"}, headers=h)
    assert r.status_code == 400 and "network_id" in r.text
    # not a DHCP agent
    r = httpx.post(f"{base}/agents/{agent.id}/dhcp-networks", json={"network_id": "x"},
                   headers=h)
    assert r.status_code == 400 and "not a DHCP agent" in r.text
    r = httpx.get(f"{base}/agents/nope", headers=h)
    assert r.status_code == 404 and r.json()["NeutronError"]["type"] == "AgentNotFound"
    r = httpx.get(f"{base}/networks/nope/dhcp-agents", headers=h)
    assert r.status_code == 404
