"""Octavia through the clients that use it: the real ``openstack loadbalancer ...`` CLI
(python-octaviaclient) and a replay of what Kubernetes' cloud-provider-openstack does for a
``Service`` of type LoadBalancer, checking each response field it reads."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openstack

from tests.api.conftest import Cli, unique
from tests.api.test_load_balancer import lb_net
from tests.support.server import RunningCloud

Conn = openstack.connection.Connection


def _json(cli: Cli, *args: str) -> Any:
    out = cli.run(*args, "-f", "json").stdout
    return json.loads(out) if out.strip() else None


def test_openstack_loadbalancer_cli(cloud: RunningCloud, cli: Cli, admin: Conn) -> None:
    _net, sub = lb_net(admin, "10.70.0.0/24")
    name = unique("lb")
    lb = _json(cli, "loadbalancer", "create", "--name", name, "--vip-subnet-id", sub.id,
               "--tag", "web", "--wait")
    assert lb["name"] == name and lb["vip_subnet_id"] == sub.id
    shown = _json(cli, "loadbalancer", "show", name)
    assert shown["provisioning_status"] == "ACTIVE" and shown["operating_status"] == "ONLINE"
    lis = _json(cli, "loadbalancer", "listener", "create", "--name", unique("lis"),
                "--protocol", "HTTP", "--protocol-port", "80", "--allowed-cidr",
                "10.0.0.0/8", "--timeout-client-data", "3000", "--insert-headers",
                "X-Forwarded-For=true", "--wait", name)
    assert lis["protocol_port"] == 80 and lis["timeout_client_data"] == 3000
    pool = _json(cli, "loadbalancer", "pool", "create", "--name", unique("pool"),
                 "--listener", lis["id"], "--protocol", "HTTP", "--lb-algorithm",
                 "LEAST_CONNECTIONS", "--session-persistence", "type=SOURCE_IP", "--wait")
    assert pool["lb_algorithm"] == "LEAST_CONNECTIONS"
    member = _json(cli, "loadbalancer", "member", "create", "--address", "10.70.0.20",
                   "--protocol-port", "8080", "--weight", "3", "--monitor-port", "8081",
                   "--wait", pool["id"])
    assert member["weight"] == 3 and member["monitor_port"] == 8081
    hm = _json(cli, "loadbalancer", "healthmonitor", "create", "--delay", "5", "--timeout",
               "3", "--max-retries", "2", "--type", "HTTP", "--url-path", "/health",
               "--wait", pool["id"])
    assert hm["type"] == "HTTP" and hm["url_path"] == "/health"
    policy = _json(cli, "loadbalancer", "l7policy", "create", "--action", "REJECT",
                   "--wait", lis["id"])
    rule = _json(cli, "loadbalancer", "l7rule", "create", "--type", "PATH",
                 "--compare-type", "STARTS_WITH", "--value", "/static", "--wait",
                 policy["id"])
    assert rule["value"] == "/static"
    cli.run("loadbalancer", "listener", "set", "--timeout-member-data", "4000", "--wait",
            lis["id"])
    assert _json(cli, "loadbalancer", "listener", "show", lis["id"])[
        "timeout_member_data"] == 4000
    members = _json(cli, "loadbalancer", "member", "list", pool["id"])
    assert [m["id"] for m in members] == [member["id"]]
    status = json.loads(cli.run("loadbalancer", "status", "show", name).stdout)
    top = status["loadbalancer"]
    assert top["listeners"][0]["pools"][0]["members"][0]["id"] == member["id"]
    stats = _json(cli, "loadbalancer", "stats", "show", name)
    assert stats["total_connections"] == 0
    assert any(p["name"] == "haproxy" for p in _json(cli, "loadbalancer", "provider", "list"))
    listed = _json(cli, "loadbalancer", "list", "--name", name)
    assert [x["id"] for x in listed] == [lb["id"]]
    project = admin.current_project_id
    cli.run("loadbalancer", "quota", "set", "--listener", "50", project)
    assert _json(cli, "loadbalancer", "quota", "show", project)["listener"] == 50
    cli.run("loadbalancer", "quota", "reset", project)
    cli.run("loadbalancer", "delete", "--cascade", "--wait", name)
    assert cli.run("loadbalancer", "show", name, check=False).returncode != 0


def _wait_active(http: httpx.Client, url: str) -> dict[str, Any]:
    """CPO's backoff (1 s x 1.2), shortened: it polls the load balancer for ACTIVE."""
    delay = 0.05
    for _ in range(23):
        lb = http.get(url).json()["loadbalancer"]
        if lb["provisioning_status"] == "ACTIVE":
            return dict(lb)
        assert lb["provisioning_status"] != "ERROR", lb
        time.sleep(delay)
        delay *= 1.2
    raise AssertionError(f"not ACTIVE: {lb}")


def test_cloud_provider_openstack_replay(cloud: RunningCloud, admin: Conn,
                                         demo: Conn) -> None:
    net, sub = lb_net(demo, "10.71.0.0/24")
    public = admin.network.create_network(name=unique("public"), is_router_external=True,
                                          provider_network_type="flat",
                                          provider_physical_network=unique("phys"))
    admin.network.create_subnet(network_id=public.id, cidr="172.31.9.0/24", ip_version=4)
    router = demo.network.create_router(name=unique("r"),
                                        external_gateway_info={"network_id": public.id})
    demo.network.add_interface_to_router(router, subnet_id=sub.id)
    try:
        endpoint = demo.endpoint_for("load-balancer")
        http = httpx.Client(headers={"X-Auth-Token": demo.auth_token}, timeout=30)

        # 1. version discovery: the last version decides the features
        versions = http.get(endpoint.rstrip("/") + "/").json()["versions"]
        newest = tuple(int(x) for x in versions[-1]["id"].removeprefix("v").split("."))
        assert newest >= (2, 16)  # timeouts 2.1, tags 2.5, allowed_cidrs 2.12, UDP HTTP 2.16
        base = endpoint.rstrip("/") + "/v2.0/lbaas"

        # 2. find by name (the current and the legacy one): nothing yet
        name = f"kube_service_cluster_default_{unique('svc')}"
        assert http.get(f"{base}/loadbalancers", params={"name": name}).json()[
            "loadbalancers"] == []

        # 3. one fully populated create
        body = {"loadbalancer": {
            "name": name, "description": "Kubernetes external service default/web from cluster "
                                         "kubernetes", "provider": "amphora",
            "tags": ["kube_service_cluster_default_web"], "vip_subnet_id": sub.id,
            "vip_network_id": net.id,
            "listeners": [{
                "name": "listener_0_" + name, "protocol": "TCP", "protocol_port": 80,
                "connection_limit": -1, "timeout_client_data": 50000,
                "timeout_member_connect": 5000, "timeout_member_data": 50000,
                "timeout_tcp_inspect": 0, "allowed_cidrs": ["0.0.0.0/0"],
                "default_pool": {
                    "name": "pool_0_" + name, "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN",
                    "session_persistence": {"type": "SOURCE_IP"},
                    "members": [{"address": f"10.71.0.{i}", "protocol_port": 30080,
                                 "name": f"node-{i}", "subnet_id": sub.id,
                                 "monitor_port": 30081} for i in (10, 11)],
                    "healthmonitor": {"name": "monitor_0_" + name, "type": "TCP", "delay": 5,
                                      "timeout": 3, "max_retries": 1,
                                      "max_retries_down": 3}}}]}}
        r = http.post(f"{base}/loadbalancers", json=body)
        assert r.status_code == 201, r.text
        lb = r.json()["loadbalancer"]
        assert lb["name"] == name and lb["provisioning_status"] == "PENDING_CREATE"
        assert lb["vip_port_id"] and lb["vip_address"].startswith("10.71.0.")
        assert lb["listeners"][0]["protocol_port"] == 80
        assert lb["listeners"][0]["default_pool_id"]

        # 4. wait for ACTIVE
        lb = _wait_active(http, f"{base}/loadbalancers/{lb['id']}")
        assert lb["operating_status"] in ("ONLINE", "DEGRADED")

        # 5. a floating IP on the VIP port, through Neutron
        fip = demo.network.create_ip(floating_network_id=public.id, port_id=lb["vip_port_id"])
        assert fip.fixed_ip_address == lb["vip_address"]

        # 6. what it reads on every sync
        listeners = http.get(f"{base}/listeners", params={"loadbalancer_id": lb["id"]}).json()[
            "listeners"]
        assert [x["name"] for x in listeners] == ["listener_0_" + name]
        lis = listeners[0]
        assert lis["protocol"] == "TCP" and lis["allowed_cidrs"] == ["0.0.0.0/0"]
        pools = http.get(f"{base}/pools", params={"loadbalancer_id": lb["id"]}).json()["pools"]
        assert [p["id"] for p in pools] == [lis["default_pool_id"]]
        pool = pools[0]
        assert pool["listeners"] == [{"id": lis["id"]}] and pool["healthmonitor_id"]
        assert pool["session_persistence"]["type"] == "SOURCE_IP"
        members = http.get(f"{base}/pools/{pool['id']}/members").json()["members"]
        assert sorted(m["address"] for m in members) == ["10.71.0.10", "10.71.0.11"]
        assert all(m["monitor_port"] == 30081 and m["subnet_id"] == sub.id for m in members)
        hm = http.get(f"{base}/healthmonitors/{pool['healthmonitor_id']}").json()["healthmonitor"]
        assert hm["type"] == "TCP" and hm["max_retries_down"] == 3

        # 7. a node joins, one leaves: batch member update
        r = http.put(f"{base}/pools/{pool['id']}/members", json={"members": [
            {"address": "10.71.0.11", "protocol_port": 30080, "name": "node-11",
             "subnet_id": sub.id, "monitor_port": 30081},
            {"address": "10.71.0.12", "protocol_port": 30080, "name": "node-12",
             "subnet_id": sub.id, "monitor_port": 30081}]})
        assert r.status_code == 202, r.text
        _wait_active(http, f"{base}/loadbalancers/{lb['id']}")
        members = http.get(f"{base}/pools/{pool['id']}/members").json()["members"]
        assert sorted(m["address"] for m in members) == ["10.71.0.11", "10.71.0.12"]

        # 8. the Service's annotations change: listener timeouts and source ranges
        r = http.put(f"{base}/listeners/{lis['id']}", json={"listener": {
            "timeout_client_data": 60000, "timeout_member_data": 60000,
            "allowed_cidrs": ["192.0.2.0/24"], "connection_limit": 1000}})
        assert r.status_code == 200, r.text
        got = r.json()["listener"]
        assert got["allowed_cidrs"] == ["192.0.2.0/24"] and got["timeout_client_data"] == 60000
        _wait_active(http, f"{base}/loadbalancers/{lb['id']}")
        r = http.put(f"{base}/loadbalancers/{lb['id']}", json={"loadbalancer": {
            "tags": ["kube_service_cluster_default_web", "extra"]}})
        assert r.status_code == 200 and r.json()["loadbalancer"]["tags"][-1] == "extra"
        _wait_active(http, f"{base}/loadbalancers/{lb['id']}")

        # 9. the Service is deleted: the floating IP goes, then a cascade delete
        demo.network.delete_ip(fip)
        assert http.delete(f"{base}/loadbalancers/{lb['id']}",
                           params={"cascade": "true"}).status_code == 204
        for _ in range(100):
            if http.get(f"{base}/loadbalancers/{lb['id']}").status_code == 404:
                break
            time.sleep(0.05)
        assert http.get(f"{base}/loadbalancers/{lb['id']}").status_code == 404
        assert demo.network.find_port(lb["vip_port_id"]) is None
        assert not list(demo.network.ports(device_id=f"lb-{lb['id']}"))
    finally:  # the session's other tests count the project's routers and networks
        demo.network.remove_interface_from_router(router, subnet_id=sub.id)
        demo.network.delete_router(router)
        demo.network.delete_network(net)
        admin.network.delete_network(public)
