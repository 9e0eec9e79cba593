"""The network agent's reconcile decisions, on the fake driver over a real (SQLite) database:
what it creates for networks, ports, routers and floating IPs, and what it removes."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from onestack.agent.network import NetworkAgent
from onestack.agent.network_plan import (
    FILTER_TABLE,
    L2_TABLE,
    NAT_TABLE,
    UPLINK_TABLE,
    PlanConfig,
)
from onestack.agent.network_state import (
    NetworkState,
    Snapshot,
    for_compute_host,
    snapshot_from_json,
    snapshot_to_json,
)
from onestack.context import RequestContext
from onestack.core.network.service import NetworkService
from onestack.db import migrate
from onestack.db.engine import Database
from onestack.db.models.compute import ComputeNode
from onestack.drivers.network import names
from onestack.drivers.network.fake import FakeNetDriver

HOST = "host-a"
ADMIN = RequestContext(is_admin=True, project_id="admin-p", roles=["admin"])
DEMO = RequestContext(project_id="demo-p", roles=["member"])


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[NetworkService, FakeNetDriver, Database]]:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate.upgrade(url)
    db = Database(url)
    try:
        yield NetworkService(db), FakeNetDriver(), db
    finally:
        await db.close()


def agent_for(db: Database, driver: FakeNetDriver) -> NetworkAgent:
    return NetworkAgent(db, driver, PlanConfig(host=HOST))


async def _private(net: NetworkService, cidr: str = "10.0.0.0/24",
                   ctx: RequestContext = DEMO) -> tuple[str, str]:
    n = (await net.networks.create(ctx, [{"name": "private"}]))[0]
    s = (await net.subnets.create(ctx, [{"network_id": n.id, "cidr": cidr, "ip_version": 4}]))[0]
    return n.id, s.id


async def _guest(net: NetworkService, network_id: str, **extra: Any) -> Any:
    project = str(DEMO.project_id)
    default = await net.security_groups.ensure_default(project)
    return (await net.ports.create(ADMIN, [{
        "network_id": network_id, "project_id": project,
        "device_owner": "compute:nova", "device_id": "inst-1", "binding:host_id": HOST,
        **extra}], {project: default}))[0]


async def test_guest_port_gets_bridge_tap_dhcp_and_rules(env: Any) -> None:
    net, drv, db = env
    net_id, _sub = await _private(net)
    port = await _guest(net, net_id)
    agent = agent_for(db, drv)
    await agent.reconcile()
    bridge, tap = names.bridge(net_id), names.tap(port.id)
    links = await drv.links()
    assert links[bridge].kind == "bridge"
    assert links[tap].master == bridge and links[tap].mtu == links[bridge].mtu
    assert names.dhcp_ns(net_id) in drv.ns
    cfg = drv.dhcp[net_id]
    ip = port.fixed_ips[0].ip_address
    assert [h.ip for h in cfg.hosts] == [ip]
    dhcp_ip = cfg.subnets[0].routes[0][1]
    assert cfg.subnets[0].routes[0] == ("169.254.169.254/32", dhcp_ip)
    l2 = drv.tables[(None, *L2_TABLE)]
    assert f'iifname "{tap}"' in l2 and ip in l2 and port.mac_address in l2
    assert (None, *FILTER_TABLE) in drv.tables
    # a second pass changes nothing
    drv.calls.clear()
    await agent.reconcile()
    assert drv.calls == []
    # the port's status is ACTIVE once plugged
    assert (await net.ports.get(ADMIN, port.id)).status == "ACTIVE"


async def test_security_group_rules_and_remote_groups(env: Any) -> None:
    net, drv, db = env
    net_id, _sub = await _private(net)
    sg = (await net.security_groups.create(DEMO, [{"name": "web"}]))[0]
    await net.security_groups.create_rules(DEMO, [
        {"security_group_id": sg.id, "direction": "ingress", "ethertype": "IPv4",
         "protocol": "tcp", "port_range_min": 22, "port_range_max": 22},
        {"security_group_id": sg.id, "direction": "ingress", "ethertype": "IPv4",
         "remote_group_id": sg.id}])
    a = await _guest(net, net_id, security_groups=[sg.id])
    b = await _guest(net, net_id, security_groups=[sg.id])
    await agent_for(db, drv).reconcile()
    body = drv.tables[(None, *FILTER_TABLE)]
    assert "meta l4proto 6 th dport 22 accept" in body
    assert f"@rg4_{names.nft_id(sg.id)}" in body
    for p in (a, b):
        assert p.fixed_ips[0].ip_address in body.split("chain")[0]  # in the set
        assert f"ingress_{names.nft_id(p.id)}" in body


async def test_port_admin_down_passes_nothing(env: Any) -> None:
    net, drv, db = env
    net_id, _sub = await _private(net)
    port = await _guest(net, net_id, admin_state_up=False)
    await agent_for(db, drv).reconcile()
    l2 = drv.tables[(None, *L2_TABLE)]
    assert f'iifname "{names.tap(port.id)}" drop' in l2
    assert f"spoof_{names.nft_id(port.id)}" not in l2
    assert (await net.ports.get(ADMIN, port.id)).status == "DOWN"


async def test_port_without_port_security_is_not_filtered(env: Any) -> None:
    net, drv, db = env
    net_id, _sub = await _private(net)
    await _guest(net, net_id, port_security_enabled=False, security_groups=[])
    await agent_for(db, drv).reconcile()
    assert (None, *L2_TABLE) not in drv.tables


async def test_router_floating_ip_and_cleanup(env: Any) -> None:
    net, drv, db = env
    pub = (await net.networks.create(ADMIN, [{
        "name": "public", "router:external": True, "provider:network_type": "flat",
        "provider:physical_network": "public"}]))[0]
    await net.subnets.create(ADMIN, [{"network_id": pub.id, "cidr": "172.24.4.0/24",
                                      "ip_version": 4, "enable_dhcp": False}])
    net_id, sub_id = await _private(net)
    router = (await net.routers.create(DEMO, [{
        "name": "r", "external_gateway_info": {"network_id": pub.id}}]))[0]
    await net.routers.add_interface(DEMO, router.id, sub_id, None)
    port = await _guest(net, net_id)
    fip = (await net.floatingips.create(DEMO, [{"floating_network_id": pub.id,
                                                "port_id": port.id}]))[0]
    agent = agent_for(db, drv)
    await agent.reconcile()
    ns = names.router_ns(router.id)
    assert drv.ns[ns] is True  # forwarding
    nat = drv.tables[(ns, *NAT_TABLE)]
    fixed = port.fixed_ips[0].ip_address
    assert f"ip daddr {fip.floating_ip_address} dnat to {fixed}" in nat
    assert "10.0.0.0/24" in nat  # SNAT of the subnet
    assert ("0.0.0.0/0", "172.24.4.1") in drv.routes[ns]
    assert drv.addresses[(None, "onb-ex")] == ["172.24.4.1/24"]
    # nothing from the external network leaves by the host's other interfaces
    assert 'iifname "onb-ex" oifname != "onb-ex" drop' in drv.tables[(None, *UPLINK_TABLE)]
    qg = next(k for k in drv.addresses if k[0] == ns and k[1].startswith("qg-"))
    assert f"{fip.floating_ip_address}/32" in drv.addresses[qg]
    assert (await net.floatingips.get(DEMO, fip.id)).status == "ACTIVE"

    # a restart (new agent, same host state) changes nothing
    drv.calls.clear()
    await agent_for(db, drv).reconcile()
    assert [c for c in drv.calls if c[0] != "dhcp_apply"] == []

    # deleting everything removes every device, namespace, table and dnsmasq
    await net.floatingips.delete(DEMO, fip.id)
    await net.ports.delete(ADMIN, port.id)
    await net.routers.remove_interface(DEMO, router.id, sub_id, None)
    await net.routers.delete(DEMO, router.id)
    await net.networks.delete(DEMO, net_id)
    await agent.reconcile()
    assert await drv.links() == {}
    assert await drv.namespaces() == []
    assert await drv.nft_tables() == []
    assert drv.dhcp == {}


async def test_orphans_of_our_prefixes_only(env: Any) -> None:
    _net, drv, db = env
    await drv.ensure_bridge("onb-deadbeef-00", 1500)
    await drv.ensure_tap("tapdeadbeef-00", "onb-deadbeef-00", 1500)
    await drv.ensure_bridge("br-someone", 1500)  # not ours: never touched
    await drv.ensure_namespace("onestack-dhcp-gone")
    await drv.ensure_namespace("other-ns")
    await drv.nft_apply("inet", "onestack-filter", "x")
    await drv.nft_apply("inet", "filter", "y")
    await agent_for(db, drv).reconcile()
    assert set(drv.link_table[None]) == {"br-someone"}
    assert set(drv.ns) == {"other-ns"}
    assert set(drv.tables) == {(None, "inet", "filter")}


async def test_plug_port_returns_tap_and_mtu(env: Any) -> None:
    net, drv, db = env
    net_id, _sub = await _private(net)
    port = await _guest(net, net_id)
    agent = agent_for(db, drv)
    info = await agent.plug_port(port.id)
    assert info.tap == names.tap(port.id) and len(info.tap) <= 15
    assert info.mtu == (await net.networks.get(ADMIN, net_id)).mtu
    assert (await drv.links())[info.tap].master == names.bridge(net_id)
    await agent.unplug_port(port.id)
    assert info.tap not in await drv.links()


class _Recorded:
    """The compute service's record of which instance holds which port (as
    ``MetadataService.instance_of_port``): (port id, port's project) -> instance."""

    def __init__(self, known: dict[tuple[str, str], str]) -> None:
        self.known = known
        self.asked: list[tuple[str, str]] = []

    async def instance_of_port(self, port_id: str, project_id: str) -> str | None:
        self.asked.append((port_id, project_id))
        return self.known.get((port_id, project_id))


async def test_metadata_resolves_guest_by_source_address(env: Any) -> None:
    net, drv, db = env
    net_id, _sub = await _private(net)
    port = await _guest(net, net_id)
    recorded = _Recorded({(port.id, "demo-p"): "inst-recorded"})
    agent = NetworkAgent(db, drv, PlanConfig(host=HOST), metadata=recorded)
    ip = port.fixed_ips[0].ip_address
    # the instance the compute service attached the port to, not the port's device_id
    assert await agent.resolve_instance("network", net_id, ip) == "inst-recorded"
    assert recorded.asked == [(port.id, "demo-p")]
    assert await agent.resolve_instance("network", net_id, "10.0.0.250") is None
    assert await agent.resolve_instance("network", "other", ip) is None
    # a port the compute service never attached (device_id written by its owner) is nobody
    stray = await _guest(net, net_id, device_id="victim-instance")
    agent.last = None
    assert await agent.resolve_instance("network", net_id,
                                        stray.fixed_ips[0].ip_address) is None


class _FromController:
    """A compute host's view: the snapshot as the internal API sends it (JSON), with the
    network node and its tunnel address filled in as the controller does."""

    def __init__(self, db: Database, node: str, node_ip: str) -> None:
        self.inner, self.node, self.node_ip = NetworkState(db), node, node_ip

    async def load(self) -> Snapshot:
        snap = await self.inner.load()
        snap.network_node, snap.vteps[self.node] = self.node, self.node_ip
        mine = for_compute_host(snap, "host-b")  # what the internal API sends host-b
        return snapshot_from_json(json.loads(json.dumps(snapshot_to_json(mine))))

    async def set_status(self, port_ids: list[str], status: str) -> None:
        await self.inner.set_status(port_ids, status)


async def _compute_host(db: Database, host: str, ip: str) -> None:
    async with db.write() as s:
        s.add(ComputeNode(uuid=str(uuid.uuid4()), service_uuid=str(uuid.uuid4()), host=host,
                          hypervisor_hostname=host, hypervisor_type="QEMU",
                          hypervisor_version=1, vcpus=1, memory_mb=512, local_gb=1,
                          host_ip=ip))


async def test_vxlan_between_the_network_node_and_a_compute_host(env: Any) -> None:
    net, drv, db = env
    net_id, _sub = await _private(net)
    await _compute_host(db, "host-b", "10.9.0.2")
    port = await _guest(net, net_id, **{"binding:host_id": "host-b"})
    network = (await net.networks.get(ADMIN, net_id))
    vx = names.vxlan(net_id)

    node = NetworkAgent(db, drv, PlanConfig(host=HOST, tunnel_ip="10.9.0.1"))
    await node.reconcile()
    assert drv.flood[vx] == (network.segmentation_id, "10.9.0.1", ["10.9.0.2"])
    assert (await drv.links())[vx].master == names.bridge(net_id)
    assert names.tap(port.id) not in await drv.links()  # the guest is on host-b
    assert names.dhcp_ns(net_id) in drv.ns

    other = FakeNetDriver()
    compute = NetworkAgent(None, other, PlanConfig(host="host-b", role="compute",
                                                   tunnel_ip="10.9.0.2"),
                           state=_FromController(db, HOST, "10.9.0.1"))
    other.ns["onestack-dhcp-someone-elses"] = False  # namespaces are the node's business
    await compute.reconcile()
    links = await other.links()
    assert links[names.tap(port.id)].master == names.bridge(net_id)
    assert other.flood[vx] == (network.segmentation_id, "10.9.0.2", ["10.9.0.1"])
    assert other.dhcp == {} and "onestack-dhcp-someone-elses" in other.ns
    assert (None, *L2_TABLE) in other.tables  # port security is enforced on host-b
    assert (await net.ports.get(ADMIN, port.id)).status == "ACTIVE"

    # the guest goes: the node stops tunnelling (its DHCP server stays), host-b clears up
    await net.ports.delete(ADMIN, port.id)
    await node.reconcile()
    await compute.reconcile()
    assert vx not in await drv.links() and vx not in drv.flood
    assert await other.links() == {} and other.tables == {}


async def test_load_balancer_port_alone_gets_its_network_bridge(env: Any) -> None:
    """A network whose only port is a load balancer's (no guest, no router) still gets its
    bridge on the network node: the load balancer agent plugs the VIP into it."""
    net, drv, db = env
    net_id, _sub = await _private(net)
    await net.ports.create(ADMIN, [{
        "network_id": net_id, "project_id": str(DEMO.project_id), "device_owner": "Octavia",
        "device_id": "lb-1"}], {})
    await agent_for(db, drv).reconcile()
    assert (await drv.links())[names.bridge(net_id)].kind == "bridge"
