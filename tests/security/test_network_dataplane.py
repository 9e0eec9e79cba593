"""The data plane and the metadata service trust only what Onestack wrote (security review
finding 7, and the admin password of finding 11). A port's ``device_owner`` and
``device_id`` are its owner's to write, so:

- a port naming another project's router as its device is not plugged into that router;
- a tenant's port that calls itself ``network:dhcp`` does not become the network's DHCP
  server (the agent makes and uses its own);
- a guest whose port's device_id names another project's instance still gets its own
  metadata (the instance comes from the compute service's record of its ports), and a
  port no instance holds gets none;
- the admin password is not served by the metadata service, and leaves the database once
  the first config drive has it.

The attacks go through the real API as the demo user and a second project's member; the
network agent then plans from the same database (fake host driver: it changes nothing on
this machine)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from onestack.agent.network import NetworkAgent
from onestack.agent.network_plan import PlanConfig
from onestack.agent.network_state import router_interfaces
from onestack.core.compute.metadata import MetadataService
from onestack.db.engine import Database
from onestack.drivers.network import names
from onestack.drivers.network.fake import FakeNetDriver
from tests.api.conftest import cloud, pg_server  # noqa: F401  (the API suite's clouds)
from tests.security.test_network_ports import (  # noqa: F401  (fixture)
    Member,
    make_net,
    neutron,
    other,
)
from tests.support.server import RunningCloud

T = TypeVar("T")
HOST = "compute-test"  # the test cloud's compute host


def _with_agent(c: RunningCloud, work: Callable[[NetworkAgent], Awaitable[T]]) -> T:
    """Run ``work`` with a network agent (role: all, this host) over the cloud's database."""
    async def main() -> T:
        db = Database(c.settings.database_url)
        try:
            agent = NetworkAgent(db, FakeNetDriver(), PlanConfig(host=HOST),
                                 metadata=MetadataService(db))
            return await work(agent)
        finally:
            await db.close()

    return asyncio.run(main())


def _image(c: RunningCloud) -> str:
    admin = {"X-Auth-Token": c.admin_token()}
    image = httpx.post(f"{c.base_url}/image/v2/images", headers=admin, json={
        "name": "dp", "disk_format": "raw", "container_format": "bare",
        "visibility": "public"}).json()
    httpx.put(f"{c.base_url}/image/v2/images/{image['id']}/file", content=b"\0" * 1024,
              headers={**admin, "Content-Type": "application/octet-stream"})
    return str(image["id"])


def _boot(c: RunningCloud, token: str, image: str, net: str, **extra: Any) -> str:
    nova = f"{c.base_url}/compute/v2.1/servers"
    headers = {"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.79"}
    r = httpx.post(nova, headers=headers, json={"server": {
        "name": "dp", "imageRef": image, "flavorRef": "42", "networks": [{"uuid": net}],
        **extra}})
    assert r.status_code == 202, r.text
    uuid = str(r.json()["server"]["id"])
    deadline = time.monotonic() + 30
    while httpx.get(f"{nova}/{uuid}", headers=headers).json()["server"]["status"] != "ACTIVE":
        assert time.monotonic() < deadline, "server not ACTIVE"
        time.sleep(0.1)
    return uuid


def _port_of(c: RunningCloud, token: str, device: str) -> dict[str, Any]:
    ports = neutron(c, "GET", f"/ports?device_id={device}", token).json()["ports"]
    assert len(ports) == 1, ports
    return dict(ports[0])


def test_a_forged_router_interface_is_not_plugged_into_the_victims_router(
        cloud: RunningCloud, other: Member) -> None:  # noqa: F811
    demo = cloud.token("demo")
    theirs = make_net(cloud, other.token, "10.171.0.0/24")
    router = neutron(cloud, "POST", "/routers", other.token, {"router": {"name": "v"}})
    router_id = router.json()["router"]["id"]
    r = neutron(cloud, "PUT", f"/routers/{router_id}/add_router_interface", other.token,
                {"subnet_id": theirs.subnet_id})
    assert r.status_code == 200, r.text
    genuine = r.json()["port_id"]
    mine = make_net(cloud, demo, "10.172.0.0/24")
    # on its own network the demo user may name any device (Neutron allows it) ...
    r = neutron(cloud, "POST", "/ports", demo, {"port": {
        "network_id": mine.id, "device_owner": "network:router_interface",
        "device_id": router_id}})
    assert r.status_code == 201, r.text
    forged = r.json()["port"]["id"]

    async def check(agent: NetworkAgent) -> None:
        snap = await agent.load()
        assert [p.id for p in router_interfaces(snap)[router_id]] == [genuine]
        await agent.reconcile()
        ns = names.router_ns(router_id)
        driver = agent.driver
        assert isinstance(driver, FakeNetDriver)
        inside = set(await driver.links(ns))
        assert names.ns_dev("qr", genuine) in inside
        assert names.ns_dev("qr", forged) not in inside  # ... it is not the router's

    _with_agent(cloud, check)
    # nor to the router's API: not an interface to remove, no hold on deleting the router
    r = neutron(cloud, "PUT", f"/routers/{router_id}/remove_router_interface", other.token,
                {"port_id": forged})
    assert r.status_code == 404, r.text
    r = neutron(cloud, "PUT", f"/routers/{router_id}/remove_router_interface", other.token,
                {"subnet_id": theirs.subnet_id})
    assert r.status_code == 200, r.text
    r = neutron(cloud, "DELETE", f"/routers/{router_id}", other.token)
    assert r.status_code == 204, r.text


def test_a_tenants_dhcp_port_does_not_become_the_dhcp_server(
        cloud: RunningCloud) -> None:  # noqa: F811
    demo = cloud.token("demo")
    net = make_net(cloud, demo, "10.173.0.0/24")
    r = neutron(cloud, "POST", "/ports", demo, {"port": {
        "network_id": net.id, "device_owner": "network:dhcp", "device_id": "rogue"}})
    assert r.status_code == 201, r.text
    rogue = r.json()["port"]
    _boot(cloud, demo, _image(cloud), net.id)

    async def check(agent: NetworkAgent) -> None:
        await agent.reconcile()
        driver = agent.driver
        assert isinstance(driver, FakeNetDriver)
        served = driver.dhcp[net.id]
        assert served.interface != names.ns_dev("ns", rogue["id"])
        own = [p for p in (await agent.load()).ports.values()
               if p.network_id == net.id and p.device_owner == "network:dhcp"
               and not p.project_id]
        assert len(own) == 1 and served.interface == names.ns_dev("ns", own[0].id)

    _with_agent(cloud, check)


def test_metadata_follows_the_compute_record_not_the_ports_device_id(
        cloud: RunningCloud, other: Member) -> None:  # noqa: F811
    demo = cloud.token("demo")
    image = _image(cloud)
    mine = make_net(cloud, demo, "10.174.0.0/24")
    theirs = make_net(cloud, other.token, "10.175.0.0/24")
    attacker = _boot(cloud, demo, image, mine.id)
    victim = _boot(cloud, other.token, image, theirs.id,
                   user_data="c2VjcmV0IG9mIHRoZSB2aWN0aW0=")
    port = _port_of(cloud, demo, attacker)
    r = neutron(cloud, "PUT", f"/ports/{port['id']}", demo, {"port": {"device_id": victim}})
    assert r.status_code == 200, r.text  # device_id is the port owner's to write
    loose = neutron(cloud, "POST", "/ports", demo, {"port": {
        "network_id": mine.id, "device_owner": "compute:nova", "device_id": victim}})
    assert loose.status_code == 201, loose.text
    ip = port["fixed_ips"][0]["ip_address"]
    loose_ip = loose.json()["port"]["fixed_ips"][0]["ip_address"]

    async def check(agent: NetworkAgent) -> None:
        assert await agent.resolve_instance("network", mine.id, ip) == attacker
        assert await agent.resolve_instance("network", mine.id, loose_ip) is None
        assert agent.metadata is not None
        answer = await agent.metadata.answer(attacker, "openstack/latest/meta_data.json")
        assert json.loads(answer.body)["uuid"] == attacker

    _with_agent(cloud, check)


def test_the_admin_password_is_on_the_first_config_drive_only(
        cloud: RunningCloud) -> None:  # noqa: F811
    demo = cloud.token("demo")
    net = make_net(cloud, demo, "10.176.0.0/24")
    secret = "s3cret-Adm1n-pass"
    uuid = _boot(cloud, demo, _image(cloud), net.id, adminPass=secret)

    async def check(agent: NetworkAgent) -> None:
        md = agent.metadata
        assert isinstance(md, MetadataService)
        served = await md.answer(uuid, "openstack/latest/meta_data.json")
        assert secret.encode() not in served.body
        first = await md.config_drive(uuid)
        assert first is not None
        assert json.loads(first["openstack/latest/meta_data.json"])["admin_pass"] == secret
        again = await md.config_drive(uuid)
        assert again is not None and secret.encode() not in b"".join(again.values())
        inst = await md.instance(uuid)
        assert inst is not None and inst.inst.admin_pass is None

    _with_agent(cloud, check)


def test_nova_does_not_pick_an_address_on_someone_elses_shared_network(
        cloud: RunningCloud, other: Member) -> None:  # noqa: F811
    """The same rule through the compute API: a server's fixed_ip on a shared network is
    the network owner's choice (Nova creates the port as the user; Neutron refuses it)."""
    demo = cloud.token("demo")
    shared = make_net(cloud, cloud.admin_token(), "10.177.0.0/24", shared=True,
                      project_id=other.project_id)
    image = _image(cloud)
    headers = {"X-Auth-Token": demo, "OpenStack-API-Version": "compute 2.79"}
    r = httpx.post(f"{cloud.base_url}/compute/v2.1/servers", headers=headers, json={
        "server": {"name": "dp", "imageRef": image, "flavorRef": "42",
                   "networks": [{"uuid": shared.id, "fixed_ip": "10.177.0.50"}]}})
    assert r.status_code == 403, r.text
    fault = r.json()["forbidden"]
    assert fault["code"] == 403 and "choosing fixed IP 10.177.0.50" in fault["message"]
    taken = neutron(cloud, "GET", "/ports?fixed_ips=ip_address%3D10.177.0.50",
                    cloud.admin_token()).json()["ports"]
    assert taken == []
    _boot(cloud, demo, image, shared.id)  # an address the network picks is fine
