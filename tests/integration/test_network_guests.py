"""The data plane with real tiny guests (QEMU, TCG) on taps the network agent made: two
guests on one tenant network get their addresses by DHCP, read their host name, SSH key and
user data from 169.254.169.254 (through the DHCP namespace's proxy), reach each other, and
the host runs ``ssh root@<floating ip> hostname``; a third guest, of another project on a
network with the same addresses, reaches neither; a guest that takes an address not its own
gets nothing through; removing the SSH rule blocks it, adding it back restores it; a new
network agent with the guests running keeps them reachable and makes nothing twice.
Everything is removed at the end, also on failure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from onestack.agent.network import NetworkAgent
from onestack.agent.network_plan import PlanConfig
from onestack.core.network.service import NetworkService
from tests.support.tiny_guest import (
    ADMIN,
    DEMO,
    HOST,
    OTHER,
    Vm,
    network_node,
    prepare,
    ssh,
    wait_for,
)

pytestmark = [pytest.mark.integration]

MARKER = "netdp-user-data-5b1e"


@pytest.fixture
async def world(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, Any] | None]:
    work = prepare(request, "onestack-netguests-")
    if work is None:
        yield None
        return
    try:
        async with network_node(work, f"#!/bin/sh\necho {MARKER} from $(hostname)\n") as node:
            yield {"net": node.net, "agent": node.agent, "image": work.image,
                   "tmp": work.tmp, "key": work.key, "vms": work.vms}
    finally:
        work.close()


async def test_two_tiny_guests_dhcp_metadata_floating_ip_ssh(world: dict[str, Any] | None
                                                             ) -> None:
    if world is None:  # it ran in its own network namespace
        return
    net: NetworkService = world["net"]
    agent: NetworkAgent = world["agent"]
    pub = (await net.networks.create(ADMIN, [{
        "name": "public", "router:external": True, "provider:network_type": "flat",
        "provider:physical_network": "public"}]))[0]
    await net.subnets.create(ADMIN, [{"network_id": pub.id, "cidr": "172.24.4.0/24",
                                      "ip_version": 4, "enable_dhcp": False}])
    private = (await net.networks.create(DEMO, [{"name": "private"}]))[0]
    sub = (await net.subnets.create(DEMO, [{"network_id": private.id, "cidr": "10.0.0.0/24",
                                            "ip_version": 4}]))[0]
    router = (await net.routers.create(DEMO, [{
        "name": "r", "external_gateway_info": {"network_id": pub.id}}]))[0]
    await net.routers.add_interface(DEMO, router.id, sub.id, None)
    sg = str(await net.security_groups.ensure_default(str(DEMO.project_id)))
    ssh_rule = (await net.security_groups.create_rules(DEMO, [
        {"security_group_id": sg, "direction": "ingress", "ethertype": "IPv4",
         "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}]))[0]
    # another project: a network with the same addresses, its own router and SSH rule
    other_net = (await net.networks.create(OTHER, [{"name": "private"}]))[0]
    other_sub = (await net.subnets.create(OTHER, [{
        "network_id": other_net.id, "cidr": "10.0.0.0/24", "ip_version": 4}]))[0]
    other_router = (await net.routers.create(OTHER, [{
        "name": "r", "external_gateway_info": {"network_id": pub.id}}]))[0]
    await net.routers.add_interface(OTHER, other_router.id, other_sub.id, None)
    other_sg = str(await net.security_groups.ensure_default(str(OTHER.project_id)))
    await net.security_groups.create_rules(OTHER, [
        {"security_group_id": other_sg, "direction": "ingress", "ethertype": "IPv4",
         "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}])
    ports, fips = [], []
    guests = (("guest-one", DEMO, private.id, sg), ("guest-two", DEMO, private.id, sg),
              ("guest-three", OTHER, other_net.id, other_sg))
    for name, ctx, network_id, group in guests:
        port = (await net.ports.create(ADMIN, [{
            "network_id": network_id, "project_id": ctx.project_id,
            "device_owner": "compute:nova", "device_id": name, "binding:host_id": HOST}],
            {str(ctx.project_id): group}))[0]
        ports.append(port)
        fips.append((await net.floatingips.create(ctx, [{
            "floating_network_id": pub.id, "port_id": port.id}]))[0].floating_ip_address)
    await agent.start()
    for (name, *_), port in zip(guests, ports, strict=True):
        plug = await agent.plug_port(port.id)  # what the compute agent calls before QEMU
        world["vms"].append(Vm(world["tmp"], world["image"], name, plug.tap, plug.mac,
                               plug.mtu))
    one, two, three = world["vms"]
    key = world["key"]
    booted = await wait_for(lambda: all(f"{MARKER} from {n}" in vm.text() for n, vm in
                                        (("guest-one", one), ("guest-two", two),
                                         ("guest-three", three))), 240)
    assert booted, "\n----\n".join(vm.text()[-3000:] for vm in (one, two, three))
    ip_one, ip_two, ip_three = (p.fixed_ips[0].ip_address for p in ports)
    assert f"{ip_one}/24" in one.text()  # the login banner shows the DHCP address
    # the host reaches each guest's floating IP over SSH and gets its name back
    assert await wait_for(lambda: ssh(key, fips[0], "hostname") == "guest-one", 60)
    assert ssh(key, fips[1], "hostname") == "guest-two"
    assert await wait_for(lambda: ssh(key, fips[2], "hostname") == "guest-three", 60)
    # the guests reach each other (same network, same default group)
    ping = "ping -c 1 -W 2 {} >/dev/null && echo ok || echo no"
    assert ssh(key, fips[0], ping.format(ip_two)) == "ok"
    # the other project's guest, on a network with the same addresses, reaches neither of
    # them, by fixed address (another segment) nor by the addresses it has on its own
    for target in (ip_one, ip_two):
        if target != ip_three:
            assert ssh(key, fips[2], ping.format(target)) == "no", target
    # a guest that takes an address that is not its port's gets nothing through, even to
    # a guest whose group lets any address in
    await net.security_groups.create_rules(DEMO, [
        {"security_group_id": sg, "direction": "ingress", "ethertype": "IPv4",
         "protocol": "icmp", "remote_ip_prefix": "0.0.0.0/0"}])
    spoofed = "10.0.0.250"
    assert spoofed not in (ip_one, ip_two)
    assert ssh(key, fips[0], f"ip addr add {spoofed}/24 dev eth0 && "
               f"{ping.format(f'-I {spoofed} ' + ip_two)}") == "no"
    assert ssh(key, fips[0], f"ip addr del {spoofed}/24 dev eth0; {ping.format(ip_two)}") \
        == "ok"
    # no SSH rule: blocked; the rule back: restored
    await net.security_groups.delete_rule(DEMO, ssh_rule.id)
    assert await wait_for(lambda: ssh(key, fips[0], "hostname", timeout=3) is None, 20)
    await net.security_groups.create_rules(DEMO, [
        {"security_group_id": sg, "direction": "ingress", "ethertype": "IPv4",
         "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}])
    assert await wait_for(lambda: ssh(key, fips[0], "hostname") == "guest-one", 30)
    # the network agent restarts (a new one: the old stopped, the data plane left as it
    # was) with the guests running: they stay reachable and nothing is made twice
    await agent.stop()
    assert ssh(key, fips[1], "hostname") == "guest-two"
    again = NetworkAgent(agent.state.db, agent.driver, PlanConfig(host=HOST), interval=2.0,
                         metadata=agent.metadata)
    links_before = await agent.driver.links()
    try:
        await again.reconcile()
        assert await agent.driver.links() == links_before
        assert ssh(key, fips[0], "hostname") == "guest-one"
        assert ssh(key, fips[2], "hostname") == "guest-three"
        assert ssh(key, fips[0], ping.format(ip_two)) == "ok"
    finally:
        await again.stop()
