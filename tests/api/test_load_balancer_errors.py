"""Octavia's negative paths through the real API (openstacksdk and raw HTTP with a real
token): 409 while the load balancer is PENDING_*, 400 naming the field, 403 for another
project's load balancer, 403 over quota, and nothing half made after a failure."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import openstack
import pytest
from openstack import exceptions as exc

from tests.api.conftest import unique
from tests.api.test_load_balancer import active, cloud_driver, fault, lb_net, raw
from tests.support.server import RunningCloud

Conn = openstack.connection.Connection


def octavia_ports(conn: Conn) -> set[str]:
    return {p.id for p in conn.network.ports(device_owner="Octavia")}


@pytest.fixture
def held(cloud: RunningCloud) -> Iterator[threading.Event]:
    """The fake data plane waits for the gate: load balancers stay PENDING_* meanwhile."""
    driver = cloud_driver(cloud)
    gate = threading.Event()
    original = driver.ensure

    async def slow(spec: Any) -> None:
        await asyncio.to_thread(gate.wait, 20)
        await original(spec)

    driver.ensure = slow
    yield gate
    gate.set()
    driver.ensure = original


def test_changes_while_pending_are_409(cloud: RunningCloud, demo: Conn,
                                       held: threading.Event) -> None:
    _net, sub = lb_net(demo, "10.61.0.0/24")
    lb = demo.load_balancer.create_load_balancer(name=unique("lb"), vip_subnet_id=sub.id)
    msg = f"Load Balancer {lb.id} is immutable and cannot be updated."
    for method, path, body in (
            ("PUT", f"/loadbalancers/{lb.id}", {"loadbalancer": {"name": "x"}}),
            ("DELETE", f"/loadbalancers/{lb.id}", None),
            ("POST", "/listeners", {"listener": {"loadbalancer_id": lb.id, "protocol": "TCP",
                                                 "protocol_port": 22}})):
        r = raw(cloud, method, path, body, who="demo")
        assert fault(r, 409) == msg, (method, path)
    with pytest.raises(exc.ConflictException):
        demo.load_balancer.update_load_balancer(lb.id, description="x")
    held.set()
    active(demo, lb.id)
    demo.load_balancer.delete_load_balancer(lb.id)


def test_bad_values_are_400_naming_the_field(cloud: RunningCloud, demo: Conn) -> None:
    _net, sub = lb_net(demo, "10.62.0.0/24")
    lb = active(demo, demo.load_balancer.create_load_balancer(vip_subnet_id=sub.id).id)
    cases = [
        ("/listeners", {"listener": {"loadbalancer_id": lb.id, "protocol": "TCP",
                                     "protocol_port": 70000}}, "protocol_port"),
        ("/listeners", {"listener": {"loadbalancer_id": lb.id, "protocol": "TCP",
                                     "protocol_port": 80, "allowed_cidrs": ["10.0.0.0/33"]}},
         "allowed_cidrs"),
        ("/listeners", {"listener": {"loadbalancer_id": lb.id, "protocol": "SMTP",
                                     "protocol_port": 25}}, "protocol"),
        ("/listeners", {"listener": {"loadbalancer_id": lb.id, "protocol": "TCP",
                                     "protocol_port": 80, "timeout_client_data": -5}},
         "timeout_client_data"),
        ("/pools", {"pool": {"loadbalancer_id": lb.id, "protocol": "HTTP",
                             "lb_algorithm": "RANDOM"}}, "lb_algorithm"),
        ("/loadbalancers", {"loadbalancer": {"vip_subnet_id": sub.id,
                                             "vip_address": "10.62.0.300"}}, "vip_address"),
    ]
    for path, body, field in cases:
        message = fault(raw(cloud, "POST", path, body, who="demo"), 400)
        assert field in message, (body, message)
    udp = demo.load_balancer.create_listener(loadbalancer_id=lb.id, protocol="UDP",
                                             protocol_port=53)
    active(demo, lb.id)
    r = raw(cloud, "POST", "/pools", {"pool": {"listener_id": udp.id, "protocol": "HTTP",
                                               "lb_algorithm": "ROUND_ROBIN"}}, who="demo")
    assert "protocol" in fault(r, 400) and "UDP" in fault(r, 400)
    pool = demo.load_balancer.create_pool(listener_id=udp.id, protocol="UDP",
                                          lb_algorithm="SOURCE_IP")
    active(demo, lb.id)
    r = raw(cloud, "POST", f"/pools/{pool.id}/members", {"member": {
        "address": "10.62.0.9", "protocol_port": 0}}, who="demo")
    assert "protocol_port" in fault(r, 400)
    r = raw(cloud, "POST", "/healthmonitors", {"healthmonitor": {
        "pool_id": pool.id, "type": "PING", "delay": 5, "timeout": 3, "max_retries": 2}},
        who="demo")
    assert "UDP" in fault(r, 400)
    r = raw(cloud, "POST", "/pools", {"pool": {"loadbalancer_id": lb.id, "protocol": "TCP",
                                               "lb_algorithm": "SOURCE_IP_PORT"}}, who="demo")
    assert r.status_code == 501 and "SOURCE_IP_PORT" in r.json()["faultstring"]
    demo.load_balancer.delete_load_balancer(lb.id, cascade=True)


def test_another_projects_load_balancer_is_403(cloud: RunningCloud, admin: Conn,
                                               demo: Conn) -> None:
    """Octavia checks its policy against the object's project: PolicyForbidden (403), as
    octavia-tempest-plugin's RBAC tests expect; an id that does not exist stays 404."""
    _net, sub = lb_net(admin, "10.63.0.0/24")
    lb = active(admin, admin.load_balancer.create_load_balancer(vip_subnet_id=sub.id).id)
    for method, path, body in (
            ("GET", f"/loadbalancers/{lb.id}", None),
            ("PUT", f"/loadbalancers/{lb.id}", {"loadbalancer": {"name": "x"}}),
            ("DELETE", f"/loadbalancers/{lb.id}", None),
            ("GET", f"/loadbalancers/{lb.id}/status", None),
            ("POST", "/listeners", {"listener": {"loadbalancer_id": lb.id, "protocol": "TCP",
                                                 "protocol_port": 22}})):
        r = raw(cloud, method, path, body, who="demo")
        assert fault(r, 403) == "Policy does not allow this request to be performed.", \
            (method, path)
    missing = "00000000-0000-4000-8000-000000000000"
    r = raw(cloud, "GET", f"/loadbalancers/{missing}", None, who="demo")
    assert fault(r, 404) == f"Load Balancer {missing} not found."
    assert lb.id not in [x.id for x in demo.load_balancer.load_balancers()]
    assert admin.load_balancer.get_load_balancer(lb.id).name == lb.name
    admin.load_balancer.delete_load_balancer(lb.id)


def test_quota_exceeded_is_403_and_leaves_nothing(cloud: RunningCloud, admin: Conn,
                                                  demo: Conn) -> None:
    _net, sub = lb_net(demo, "10.64.0.0/24")
    project = demo.current_project_id
    have = len(list(demo.load_balancer.load_balancers()))
    admin.load_balancer.update_quota(project, load_balancers=have)
    try:
        before = octavia_ports(admin)
        r = raw(cloud, "POST", "/loadbalancers", {"loadbalancer": {"vip_subnet_id": sub.id}},
                who="demo")
        assert fault(r, 403) == "Quota has been met for resources: Load Balancer"
        assert octavia_ports(admin) == before
        assert admin.load_balancer.get_quota(project).load_balancers == have
    finally:
        admin.load_balancer.delete_quota(project)
    assert admin.load_balancer.get_quota(project).load_balancers == -1


def test_failed_create_leaves_no_port(cloud: RunningCloud, admin: Conn, demo: Conn) -> None:
    """A fully populated create that fails half way (a pool the listener cannot use) and a
    VIP address off the subnet: no load balancer, no VIP port, no security group."""
    _net, sub = lb_net(demo, "10.65.0.0/24")
    before = octavia_ports(admin)
    groups = {g.id for g in demo.network.security_groups()}
    lbs = {x.id for x in demo.load_balancer.load_balancers()}
    r = raw(cloud, "POST", "/loadbalancers", {"loadbalancer": {
        "vip_subnet_id": sub.id, "listeners": [{
            "protocol": "UDP", "protocol_port": 53, "default_pool": {
                "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}]}}, who="demo")
    assert "protocol" in fault(r, 400)
    r = raw(cloud, "POST", "/loadbalancers", {"loadbalancer": {
        "vip_subnet_id": sub.id, "vip_address": "10.99.0.5"}}, who="demo")
    assert "vip_address" in fault(r, 400)
    assert octavia_ports(admin) == before
    assert {g.id for g in demo.network.security_groups()} == groups
    assert {x.id for x in demo.load_balancer.load_balancers()} == lbs


def test_concurrent_creates_respect_the_quota(cloud: RunningCloud, admin: Conn,
                                               demo: Conn) -> None:
    """Six creates at once with room for one: one load balancer, five 403s, one VIP port
    (the quota lock holds from the count to the commit)."""
    from concurrent.futures import ThreadPoolExecutor

    _net, sub = lb_net(demo, "10.72.0.0/24")
    project = demo.current_project_id
    have = len(list(demo.load_balancer.load_balancers()))
    admin.load_balancer.update_quota(project, load_balancers=have + 1)
    before = octavia_ports(admin)
    try:
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda _i: raw(cloud, "POST", "/loadbalancers", {
                "loadbalancer": {"vip_subnet_id": sub.id}}, who="demo"), range(6)))
    finally:
        admin.load_balancer.delete_quota(project)
    codes = sorted(r.status_code for r in answers)
    assert codes == [201, 403, 403, 403, 403, 403], [r.text for r in answers]
    assert len(octavia_ports(admin) - before) == 1
    made = next(r.json()["loadbalancer"]["id"] for r in answers if r.status_code == 201)
    active(demo, made)
    demo.load_balancer.delete_load_balancer(made)


def test_octavia_plugin_wire_details(cloud: RunningCloud, demo: Conn) -> None:
    """What octavia-tempest-plugin found: a number in a string is a number (WSME), an
    allowed CIDR of the other IP version than the VIP's is 400, timeout > delay is refused
    on UDP pools only, ``fields`` returns just the fields asked, and updated_at is set once
    a created object is ACTIVE."""
    _net, sub = lb_net(demo, "10.65.0.0/24")
    lb = active(demo, demo.load_balancer.create_load_balancer(vip_subnet_id=sub.id).id)
    assert lb.updated_at is not None
    r = raw(cloud, "POST", "/listeners", {"listener": {
        "loadbalancer_id": lb.id, "protocol": "TCP", "protocol_port": "80",
        "allowed_cidrs": ["192.0.1.0/24", "2001:db8:a0b:12f0::/64"]}}, who="demo")
    assert fault(r, 400) == ("Validation failure: CIDR 2001:db8:a0b:12f0::/64 IP version "
                             f"incompatible with VIP {lb.vip_address} IP version.")
    r = raw(cloud, "POST", "/listeners", {"listener": {
        "loadbalancer_id": lb.id, "protocol": "TCP", "protocol_port": "80"}}, who="demo")
    assert r.status_code == 201 and r.json()["listener"]["protocol_port"] == 80, r.text
    active(demo, lb.id)
    pools = {}
    for protocol in ("TCP", "UDP"):
        pools[protocol] = demo.load_balancer.create_pool(
            loadbalancer_id=lb.id, protocol=protocol, lb_algorithm="ROUND_ROBIN").id
        active(demo, lb.id)
    # pools no listener uses are OFFLINE (amphora)
    assert {demo.load_balancer.get_pool(p).operating_status for p in pools.values()} == {
        "OFFLINE"}
    monitor = {"delay": 2, "timeout": 3, "max_retries": 2}
    r = raw(cloud, "POST", "/healthmonitors", {"healthmonitor": {
        "pool_id": pools["UDP"], "type": "UDP-CONNECT", **monitor}}, who="demo")
    assert fault(r, 400) == ("Validation failure: The request delay value 2 should be larger "
                             "than the request timeout value 3 for UDP-CONNECT health "
                             "monitor type.")
    r = raw(cloud, "POST", "/healthmonitors", {"healthmonitor": {
        "pool_id": pools["TCP"], "type": "TCP", **monitor}}, who="demo")
    assert r.status_code == 201, r.text
    active(demo, lb.id)
    r = raw(cloud, "GET", f"/loadbalancers?fields=name&id={lb.id}", None, who="demo")
    assert r.json()["loadbalancers"] == [{"name": lb.name}]
    # L7 policies list by created_at (not position); a new action drops the old target
    http = demo.load_balancer.create_listener(loadbalancer_id=lb.id, protocol="HTTP",
                                              protocol_port=8080).id
    active(demo, lb.id)
    web = demo.load_balancer.create_pool(listener_id=http, protocol="HTTP",
                                         lb_algorithm="ROUND_ROBIN").id
    active(demo, lb.id)
    first = demo.load_balancer.create_l7_policy(
        listener_id=http, action="REDIRECT_TO_URL", redirect_url="http://example.com/").id
    active(demo, lb.id)
    second = demo.load_balancer.create_l7_policy(listener_id=http, action="REJECT",
                                                 position=1).id
    active(demo, lb.id)
    r = raw(cloud, "GET", f"/l7policies?listener_id={http}", None, who="demo")
    assert [(p["id"], p["position"]) for p in r.json()["l7policies"]] == [
        (first, 2), (second, 1)]
    r = raw(cloud, "PUT", f"/l7policies/{first}", {"l7policy": {
        "action": "REDIRECT_TO_POOL", "redirect_pool_id": web}}, who="demo")
    assert r.status_code == 200, r.text
    assert r.json()["l7policy"]["redirect_url"] is None
    active(demo, lb.id)
    demo.load_balancer.delete_load_balancer(lb.id, cascade=True)
