"""apache-libcloud's OpenStack driver against the cloud, as its users configure it (Keystone
v3 password auth, the identity URL, a project and a region): networks through Neutron (the
2.0 driver) and through Nova's os-networks proxy (the 1.1 driver), images, sizes, and a node
booted, listed running, and destroyed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from libcloud.compute.providers import get_driver
from libcloud.compute.types import NodeState, Provider

from tests.api.conftest import connect, unique
from tests.support.server import RunningCloud


def driver(cloud: RunningCloud, api_version: str) -> Any:
    acct = cloud.accounts["demo"]
    return get_driver(Provider.OPENSTACK)(
        acct.username, acct.password, ex_force_auth_url=f"{cloud.base_url}/identity",
        ex_force_auth_version="3.x_password", ex_tenant_name=acct.project,
        ex_domain_name="Default", ex_force_service_region="RegionOne", api_version=api_version)


@pytest.fixture
def world(cloud: RunningCloud) -> Iterator[dict[str, str]]:
    """demo's network with a subnet, and a public image."""
    demo, admin = connect(cloud, "demo"), connect(cloud)
    net = demo.network.create_network(name=unique("lcnet"))
    demo.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.77.0.0/24")
    img = admin.image.create_image(name=unique("lcimg"), data=b"\0" * 4096,
                                   disk_format="raw", container_format="bare",
                                   visibility="public")
    yield {"network": net.id, "image": img.id}
    for port in demo.network.ports(network_id=net.id):
        demo.network.delete_port(port)
    demo.network.delete_network(net.id)
    admin.image.delete_image(img.id)


def _wait(drv: Any, node_id: str, state: str, gone: bool = False) -> Any:
    deadline = time.monotonic() + 15
    while True:
        found = [n for n in drv.list_nodes() if n.id == node_id]
        if (gone and not found) or (found and found[0].state == state):
            return found[0] if found else None
        assert time.monotonic() < deadline, f"node {node_id}: {found}"
        time.sleep(0.2)


def test_libcloud_networks_images_sizes_and_a_node(cloud: RunningCloud,
                                                   world: dict[str, str]) -> None:
    drv = driver(cloud, "2.0")
    nets = {n.id: n for n in drv.ex_list_networks()}  # Neutron's /v2.0/networks
    assert world["network"] in nets
    proxied = {n.id: n for n in driver(cloud, "1.1").ex_list_networks()}  # os-networks
    assert proxied[world["network"]].name == nets[world["network"]].name
    image = next(i for i in drv.list_images() if i.id == world["image"])
    sizes = drv.list_sizes()
    size = min(sizes, key=lambda s: (s.ram, s.id))
    assert {"m1.nano", "m1.tiny"} <= {s.name for s in sizes} and size.ram > 0
    name = unique("lcnode")
    node = drv.create_node(name=name, size=size, image=image,
                           networks=[nets[world["network"]]])
    try:
        running = _wait(drv, node.id, NodeState.RUNNING)
        assert running.name == name and running.private_ips[0].startswith("10.77.0.")
        assert running.extra["flavorId"] == size.id
    finally:
        assert drv.destroy_node(node)
    _wait(drv, node.id, "", gone=True)
