"""Octavia v2 through the real openstacksdk: load balancers, listeners, pools, members,
health monitors, L7, status, stats, cascade delete and quotas, on the fake data plane; and
the negative paths (409 while PENDING_*, 400 naming the field, 404 across projects, 403
over quota, nothing half made)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import openstack

from tests.api.conftest import unique
from tests.support.server import RunningCloud

Conn = openstack.connection.Connection


def lb_net(conn: Conn, cidr: str = "10.60.0.0/24") -> tuple[Any, Any]:
    net = conn.network.create_network(name=unique("lbnet"))
    sub = conn.network.create_subnet(network_id=net.id, cidr=cidr, ip_version=4,
                                     name=unique("lbsub"))
    return net, sub


def active(conn: Conn, lb_id: str, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        lb = conn.load_balancer.get_load_balancer(lb_id)
        if lb.provisioning_status == "ACTIVE":
            return lb
        assert lb.provisioning_status.startswith("PENDING"), lb.provisioning_status
        assert time.monotonic() < deadline, f"{lb_id} still {lb.provisioning_status}"
        time.sleep(0.05)


def raw(cloud: RunningCloud, method: str, path: str, body: Any = None, who: str = "admin"
        ) -> httpx.Response:
    return httpx.request(method, f"{cloud.base_url}/load-balancer/v2/lbaas{path}", json=body,
                         headers={"X-Auth-Token": cloud.token(who)}, timeout=30)


def fault(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["faultcode"] == "Client" and body["debuginfo"] is None, body
    return str(body["faultstring"])


def test_version_list_is_open_and_ends_with_the_newest(cloud: RunningCloud) -> None:
    r = httpx.get(f"{cloud.base_url}/load-balancer/")
    assert r.status_code == 200
    versions = r.json()["versions"]
    assert versions[0]["id"] == "v2.0" and versions[-1]["id"] == "v2.16"
    assert versions[-1]["status"] == "CURRENT"
    assert versions[-1]["links"][0]["href"].endswith("/load-balancer/v2")


def test_load_balancer_lifecycle(cloud: RunningCloud, demo: Conn) -> None:
    _net, sub = lb_net(demo)
    lbs = demo.load_balancer
    lb = lbs.create_load_balancer(name=unique("lb"), vip_subnet_id=sub.id, tags=["a"])
    assert lb.provisioning_status == "PENDING_CREATE" and lb.operating_status == "OFFLINE"
    assert lb.provider == "haproxy" and lb.vip_network_id == sub.network_id
    port = demo.network.get_port(lb.vip_port_id)
    assert port.device_owner == "Octavia"
    assert port.fixed_ips[0]["ip_address"] == lb.vip_address
    assert port.security_group_ids, "the VIP port has its own security group"
    started = time.monotonic()
    lb = active(demo, lb.id)
    assert time.monotonic() - started < 2.0
    assert lb.operating_status == "ONLINE" and lb.tags == ["a"]

    lis = lbs.create_listener(loadbalancer_id=lb.id, protocol="HTTP", protocol_port=80,
                              timeout_client_data=1000, allowed_cidrs=["10.0.0.0/8"],
                              insert_headers={"X-Forwarded-For": "true"},
                              connection_limit=100)
    assert lis.provisioning_status == "PENDING_CREATE"
    assert lis.allowed_cidrs == ["10.0.0.0/8"] and lis.timeout_client_data == 1000
    active(demo, lb.id)
    pool = lbs.create_pool(listener_id=lis.id, protocol="HTTP", lb_algorithm="ROUND_ROBIN",
                           session_persistence={"type": "HTTP_COOKIE"})
    active(demo, lb.id)
    assert lbs.get_listener(lis.id).default_pool_id == pool.id
    assert lbs.get_pool(pool.id).operating_status == "ONLINE"  # a listener's, no members yet
    m1 = lbs.create_member(pool, address="10.60.0.10", protocol_port=8080, weight=5,
                           monitor_port=8081, backup=False)
    active(demo, lb.id)
    hm = lbs.create_health_monitor(pool_id=pool.id, type="HTTP", delay=5, timeout=3,
                                   max_retries=2, url_path="/healthz")
    assert hm.http_method == "GET" and hm.expected_codes == "200"
    active(demo, lb.id)
    m = lbs.get_member(m1, pool)
    assert m.operating_status == "ONLINE" and m.weight == 5 and m.monitor_port == 8081
    assert lbs.get_pool(pool.id).operating_status == "ONLINE"
    assert lbs.get_listener(lis.id).operating_status == "ONLINE"

    # update, list, filter
    lbs.update_listener(lis, timeout_member_data=2000, allowed_cidrs=["192.168.0.0/16"])
    active(demo, lb.id)
    got = lbs.get_listener(lis.id)
    assert got.timeout_member_data == 2000 and got.allowed_cidrs == ["192.168.0.0/16"]
    assert [x.id for x in lbs.listeners(loadbalancer_id=lb.id)] == [lis.id]
    assert [x.id for x in lbs.load_balancers(name=lb.name)] == [lb.id]
    assert [x.id for x in lbs.members(pool)] == [m1.id]
    names = [x["name"] for x in raw(cloud, "GET", "/loadbalancers?sort=name:desc",
                                    who="demo").json()["loadbalancers"]]
    assert names == sorted(names, reverse=True)
    r = raw(cloud, "GET", "/loadbalancers?sort_key=name&sort_dir=sideways", who="demo")
    assert "sort_dir" in fault(r, 400)

    # status tree and stats
    tree = lbs.get_load_balancer_statistics(lb.id)
    assert tree.total_connections == 0
    status = raw(cloud, "GET", f"/loadbalancers/{lb.id}/status", who="demo").json()
    top = status["statuses"]["loadbalancer"]
    assert top["id"] == lb.id and top["listeners"][0]["id"] == lis.id
    spool = top["listeners"][0]["pools"][0]
    assert spool["id"] == pool.id and spool["health_monitor"]["id"] == hm.id
    assert spool["members"][0]["address"] == "10.60.0.10"

    # a member ERROR makes the pool, listener and load balancer DEGRADED
    driver = cloud_driver(cloud)
    m2 = lbs.create_member(pool, address="10.60.0.11", protocol_port=8080)
    active(demo, lb.id)
    driver.set_member_status(m2.id, "ERROR")
    cloud_agent(cloud).wake()
    deadline = time.monotonic() + 5
    while lbs.get_load_balancer(lb.id).operating_status != "DEGRADED":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert lbs.get_member(m2, pool).operating_status == "ERROR"
    assert lbs.get_pool(pool.id).operating_status == "DEGRADED"

    # cascade delete takes everything, the VIP port included
    r = raw(cloud, "DELETE", f"/loadbalancers/{lb.id}", who="demo")
    assert "children" in fault(r, 400)
    lbs.delete_load_balancer(lb.id, cascade=True)
    deadline = time.monotonic() + 5
    while lbs.find_load_balancer(lb.id) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert demo.network.find_port(lb.vip_port_id) is None
    assert lb.id not in driver.specs


def cloud_agent(cloud: RunningCloud) -> Any:
    return cloud.runtime.load_balancer_agent


def cloud_driver(cloud: RunningCloud) -> Any:
    return cloud_agent(cloud).driver


def _until(check: Any, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_agent_spec_errors_orphans_and_adoption(cloud: RunningCloud, demo: Conn) -> None:
    """The spec the data plane gets (VIP interface on the network's bridge, a port on a
    second member subnet); a failing data plane turns the load balancer ERROR and an update
    retries it; a load balancer the data plane lost is built again; an orphan is removed."""
    from onestack.drivers.lb.base import LbError
    from onestack.drivers.network import names

    net, sub = lb_net(demo, "10.66.0.0/24")
    net2, sub2 = lb_net(demo, "10.67.0.0/24")
    lbs, agent = demo.load_balancer, cloud_agent(cloud)
    driver = agent.driver
    lb = active(demo, lbs.create_load_balancer(vip_subnet_id=sub.id).id)
    lis = lbs.create_listener(loadbalancer_id=lb.id, protocol="TCP", protocol_port=443)
    active(demo, lb.id)
    pool = lbs.create_pool(listener_id=lis.id, protocol="TCP", lb_algorithm="SOURCE_IP")
    active(demo, lb.id)
    lbs.create_member(pool, address="10.67.0.5", protocol_port=443, subnet_id=sub2.id)
    active(demo, lb.id)
    spec = driver.specs[lb.id]
    vip_port = demo.network.get_port(lb.vip_port_id)
    assert spec.vip.bridge == names.bridge(net.id) and spec.vip.mac == vip_port.mac_address
    assert spec.vip.addresses == (f"{lb.vip_address}/24",) and spec.vip.gateway == "10.66.0.1"
    (member_port,) = spec.member_ports
    assert member_port.bridge == names.bridge(net2.id)
    assert member_port.addresses[0].startswith("10.67.0.")
    assert spec.listeners[0].protocol_port == 443 and spec.pools[0].lb_algorithm == "SOURCE_IP"
    rules = demo.network.security_group_rules(security_group_id=vip_port.security_group_ids[0],
                                              direction="ingress")
    assert [(r.protocol, r.port_range_min) for r in rules] == [("tcp", 443)]

    original = driver.ensure

    async def broken(_spec: Any) -> None:
        raise LbError("haproxy -c: configuration invalid")

    driver.ensure = broken
    try:
        lbs.update_listener(lis, connection_limit=10)
        _until(lambda: lbs.get_load_balancer(lb.id).provisioning_status == "ERROR")
        assert lbs.get_load_balancer(lb.id).operating_status == "ERROR"
    finally:
        driver.ensure = original
    lbs.update_load_balancer(lb.id, description="retry")
    active(demo, lb.id)

    driver.specs.pop(lb.id)  # the data plane lost it (a crash, a reboot)
    driver.specs["0000-orphan"] = spec
    agent.wake()
    _until(lambda: lb.id in driver.specs and "0000-orphan" not in driver.specs)
    lbs.delete_load_balancer(lb.id, cascade=True)
    _until(lambda: lbs.find_load_balancer(lb.id) is None)
    assert not list(demo.network.ports(device_id=f"lb-{lb.id}"))


def test_fully_populated_l7_batch_members_and_quotas(cloud: RunningCloud, admin: Conn,
                                                      demo: Conn) -> None:
    """One POST makes the whole tree; L7 policies keep their order; a batch PUT replaces the
    members; a null name is an empty one; quotas through the SDK."""
    _net, sub = lb_net(demo, "10.68.0.0/24")
    lbs = demo.load_balancer
    r = raw(cloud, "POST", "/loadbalancers", {"loadbalancer": {
        "name": unique("full"), "vip_subnet_id": sub.id,
        "pools": [{"name": "static", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                   "members": [{"address": "10.68.0.30", "protocol_port": 80}]}],
        "listeners": [{
            "protocol": "HTTP", "protocol_port": 80, "default_pool": {
                "protocol": "HTTP", "lb_algorithm": "LEAST_CONNECTIONS",
                "members": [{"address": "10.68.0.20", "protocol_port": 80}],
                "healthmonitor": {"type": "HTTP", "delay": 3, "timeout": 2,
                                  "max_retries": 1}},
            "l7policies": [{"action": "REDIRECT_TO_URL", "redirect_url":
                            "http://example.com/", "rules": [
                                {"type": "HOST_NAME", "compare_type": "EQUAL_TO",
                                 "value": "old.example.com"}]}]}]}}, who="demo")
    assert r.status_code == 201, r.text
    body = r.json()["loadbalancer"]
    assert len(body["pools"]) == 2 and body["pools"][0]["members"]
    lb = active(demo, body["id"])
    lis = lbs.get_listener(body["listeners"][0]["id"])
    static = next(p for p in lbs.pools(loadbalancer_id=lb.id) if p.name == "static")
    first = lbs.get_l7_policy(lis.l7_policies[0]["id"])
    second = lbs.create_l7_policy(listener_id=lis.id, action="REDIRECT_TO_POOL",
                                  redirect_pool_id=static.id, position=1)
    active(demo, lb.id)
    rule = lbs.create_l7_rule(second, type="PATH", compare_type="STARTS_WITH",
                              value="/static")
    active(demo, lb.id)
    assert lbs.get_l7_policy(first.id).position == 2
    # listed by created_at (as Octavia), whatever their positions
    assert [p.id for p in lbs.l7_policies(listener_id=lis.id)] == [first.id, second.id]
    assert [x.id for x in lbs.l7_rules(second)] == [rule.id]
    lbs.update_l7_policy(second, position=2)
    active(demo, lb.id)
    assert lbs.get_l7_policy(first.id).position == 1
    assert driver_spec(cloud, lb.id).listeners[0].l7policies[0].id == first.id
    assert [p["id"] for p in lbs.get_pool(static.id).listeners] == [lis.id]

    pool = lbs.get_pool(lis.default_pool_id)
    r = raw(cloud, "PUT", f"/pools/{pool.id}/members", {"members": [
        {"address": "10.68.0.21", "protocol_port": 80, "weight": 7},
        {"address": "10.68.0.22", "protocol_port": 80, "backup": True}]}, who="demo")
    assert r.status_code == 202, r.text
    active(demo, lb.id)
    got = {m.address: m for m in lbs.members(pool)}
    assert set(got) == {"10.68.0.21", "10.68.0.22"} and got["10.68.0.21"].weight == 7
    assert got["10.68.0.22"].backup is True
    r = raw(cloud, "PUT", f"/listeners/{lis.id}", {"listener": {"name": None}}, who="demo")
    assert r.status_code == 200 and r.json()["listener"]["name"] == ""
    active(demo, lb.id)

    project = demo.current_project_id
    quota = admin.load_balancer.update_quota(project, listeners=3, members=20)
    assert quota.listeners == 3
    assert demo.load_balancer.get_quota(project).members == 20
    admin.load_balancer.delete_quota(project)
    lbs.delete_load_balancer(lb.id, cascade=True)


def driver_spec(cloud: RunningCloud, lb_id: str) -> Any:
    return cloud_driver(cloud).specs[lb_id]


def test_update_and_delete_each_object(cloud: RunningCloud, demo: Conn) -> None:
    """Every object below a load balancer updated and deleted on its own: PENDING_* first,
    gone (404) once the data plane has converged, and absent from the spec."""
    _net, sub = lb_net(demo, "10.69.0.0/24")
    lbs = demo.load_balancer
    lb = active(demo, lbs.create_load_balancer(vip_subnet_id=sub.id).id)
    lis = lbs.create_listener(loadbalancer_id=lb.id, protocol="HTTP", protocol_port=8080)
    active(demo, lb.id)
    pool = lbs.create_pool(loadbalancer_id=lb.id, protocol="HTTP", lb_algorithm="SOURCE_IP")
    active(demo, lb.id)
    member = lbs.create_member(pool, address="10.69.0.5", protocol_port=80)
    active(demo, lb.id)
    hm = lbs.create_health_monitor(pool_id=pool.id, type="TCP", delay=4, timeout=2,
                                   max_retries=3)
    active(demo, lb.id)
    policy = lbs.create_l7_policy(listener_id=lis.id, action="REDIRECT_PREFIX",
                                  redirect_prefix="https://example.com",
                                  redirect_http_code=301)
    active(demo, lb.id)
    rule = lbs.create_l7_rule(policy, type="HEADER", key="X-Env", compare_type="EQUAL_TO",
                              value="test")
    active(demo, lb.id)

    assert lbs.update_listener(lis, default_pool_id=pool.id).default_pool_id == pool.id
    active(demo, lb.id)
    assert lbs.update_pool(pool, lb_algorithm="ROUND_ROBIN").lb_algorithm == "ROUND_ROBIN"
    active(demo, lb.id)
    assert lbs.update_member(member, pool, weight=0, is_admin_state_up=False).weight == 0
    active(demo, lb.id)
    assert lbs.get_member(member, pool).operating_status == "OFFLINE"
    assert lbs.update_health_monitor(hm, delay=10).delay == 10
    active(demo, lb.id)
    assert lbs.update_l7_rule(rule, policy, rule_value="prod").rule_value == "prod"
    active(demo, lb.id)
    assert lbs.update_l7_policy(policy, name="p2").name == "p2"
    active(demo, lb.id)
    spec = driver_spec(cloud, lb.id)
    assert spec.pools[0].health_monitor.delay == 10
    assert spec.listeners[0].l7policies[0].rules[0].value == "prod"

    for delete, find, ident in (
            (lambda: lbs.delete_l7_rule(rule, policy),
             lambda: lbs.find_l7_rule(rule.id, policy), rule.id),
            (lambda: lbs.delete_l7_policy(policy), lambda: lbs.find_l7_policy(policy.id),
             policy.id),
            (lambda: lbs.delete_health_monitor(hm), lambda: lbs.find_health_monitor(hm.id),
             hm.id),
            (lambda: lbs.delete_member(member, pool), lambda: lbs.find_member(member.id, pool),
             member.id),
            (lambda: lbs.delete_pool(pool), lambda: lbs.find_pool(pool.id), pool.id),
            (lambda: lbs.delete_listener(lis), lambda: lbs.find_listener(lis.id), lis.id)):
        delete()
        active(demo, lb.id)
        assert find() is None, ident
    spec = driver_spec(cloud, lb.id)
    assert spec.listeners == () and spec.pools == ()
    lbs.delete_load_balancer(lb.id)
    _until(lambda: lbs.find_load_balancer(lb.id) is None)
