"""os-hosts (to 2.42), hypervisor uptime/search/servers and the 2.53 pattern, the os-networks
and os-tenant-networks proxies (to 2.35), flavors with integer ids, with raw HTTP and a real
token; and the openstack CLI's aggregate, availability zone, host and hypervisor commands."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.conftest import Cli, connect, unique
from tests.api.test_compute import nova
from tests.support.server import RunningCloud

HOST = "compute-test"


def test_os_hosts(cloud: RunningCloud) -> None:
    hosts = nova(cloud, "GET", "/os-hosts", version="2.1").json()["hosts"]
    assert {"host_name": HOST, "service": "compute", "zone": "nova"} in hosts
    assert {"host_name": "onestack", "service": "scheduler", "zone": "internal"} in hosts
    assert {h["host_name"] for h in nova(cloud, "GET", "/os-hosts?zone=internal",
                                         version="2.1").json()["hosts"]} == {"onestack"}
    assert nova(cloud, "GET", "/os-hosts?zone=", version="2.1").json()["hosts"] == hosts
    assert nova(cloud, "GET", "/os-hosts", version="2.43").status_code == 404
    assert nova(cloud, "GET", "/os-hosts", who="demo", version="2.1").status_code == 403
    shown = nova(cloud, "GET", f"/os-hosts/{HOST}", version="2.42").json()["host"]
    projects = [r["resource"]["project"] for r in shown]
    assert projects[:3] == ["(total)", "(used_now)", "(used_max)"]
    assert shown[0]["resource"] == {"host": HOST, "project": "(total)", "cpu": 8,
                                    "memory_mb": 16384, "disk_gb": 200}
    missing = nova(cloud, "GET", "/os-hosts/nowhere", version="2.1")
    assert missing.status_code == 404 and "itemNotFound" in missing.json()
    bad = nova(cloud, "PUT", f"/os-hosts/{HOST}", version="2.1", json={"status": "off"})
    assert bad.status_code == 400 and "status" in bad.json()["badRequest"]["message"]
    off = nova(cloud, "PUT", f"/os-hosts/{HOST}", version="2.1", json={"status": "disable"})
    try:
        assert off.json() == {"host": HOST, "status": "disabled"}
        services = nova(cloud, "GET", f"/os-services?host={HOST}").json()["services"]
        assert services[0]["status"] == "disabled"
    finally:
        on = nova(cloud, "PUT", f"/os-hosts/{HOST}", version="2.1", json={"status": "enable"})
    assert on.json() == {"host": HOST, "status": "enabled"}
    assert nova(cloud, "PUT", f"/os-hosts/{HOST}", version="2.1",
                json={"maintenance_mode": "enable"}).status_code == 501
    for action in ("reboot", "shutdown", "startup"):
        r = nova(cloud, "GET", f"/os-hosts/{HOST}/{action}", version="2.1")
        assert r.status_code == 501 and "notImplemented" in r.json()
        assert nova(cloud, "GET", f"/os-hosts/nowhere/{action}",
                    version="2.1").status_code == 404


def test_hypervisor_uptime_search_servers(cloud: RunningCloud) -> None:
    old = nova(cloud, "GET", "/os-hypervisors", version="2.52").json()["hypervisors"]
    ident = next(h["id"] for h in old if h["hypervisor_hostname"] == HOST)
    up = nova(cloud, "GET", f"/os-hypervisors/{ident}/uptime", version="2.1").json()
    assert set(up["hypervisor"]) == {"id", "hypervisor_hostname", "state", "status", "uptime"}
    assert up["hypervisor"]["id"] == ident and " up " in up["hypervisor"]["uptime"]
    new = nova(cloud, "GET", "/os-hypervisors", version="2.53").json()["hypervisors"]
    uuid = next(h["id"] for h in new if h["hypervisor_hostname"] == HOST)
    assert nova(cloud, "GET", f"/os-hypervisors/{uuid}/uptime",
                version="2.53").json()["hypervisor"]["id"] == uuid
    assert nova(cloud, "GET", f"/os-hypervisors/{uuid}/uptime",
                version="2.1").status_code == 404  # not an integer id: Nova's 404
    assert nova(cloud, "GET", f"/os-hypervisors/{ident}/uptime", who="demo",
                version="2.1").status_code == 403
    found = nova(cloud, "GET", "/os-hypervisors/compute/search", version="2.52").json()
    assert HOST in {h["hypervisor_hostname"] for h in found["hypervisors"]}
    servers = nova(cloud, "GET", "/os-hypervisors/compute/servers", version="2.52").json()
    assert "servers" in next(h for h in servers["hypervisors"]
                             if h["hypervisor_hostname"] == HOST)
    for suffix in ("search", "servers"):
        assert nova(cloud, "GET", f"/os-hypervisors/compute/{suffix}",
                    version="2.53").status_code == 404
    pattern = nova(cloud, "GET", "/os-hypervisors/detail?hypervisor_hostname_pattern=compute",
                   version="2.53").json()["hypervisors"]
    assert HOST in {h["hypervisor_hostname"] for h in pattern}
    assert nova(cloud, "GET", "/os-hypervisors?hypervisor_hostname_pattern=zzz-none",
                version="2.53").status_code == 404


def _network(cloud: RunningCloud, who: str) -> dict[str, Any]:
    conn = connect(cloud, who)
    net = conn.network.create_network(name=unique("net"))
    return {"id": net.id, "name": net.name, "conn": conn}


def test_os_networks_proxies(cloud: RunningCloud) -> None:
    mine, theirs = _network(cloud, "demo"), _network(cloud, "admin")
    try:
        listed = nova(cloud, "GET", "/os-networks", who="demo", version="2.35").json()
        by_id = {n["id"]: n for n in listed["networks"]}
        assert by_id[mine["id"]]["label"] == mine["name"]
        assert set(by_id[mine["id"]]) == {"id", "cidr", "netmask", "gateway", "broadcast",
                                          "dns1", "dns2", "cidr_v6", "gateway_v6", "label",
                                          "netmask_v6"}
        assert theirs["id"] not in by_id  # another project's private network
        shown = nova(cloud, "GET", f"/os-networks/{mine['id']}", who="demo", version="2.1")
        assert shown.json()["network"]["label"] == mine["name"]
        admin_view = nova(cloud, "GET", f"/os-networks/{mine['id']}", version="2.1")
        assert "project_id" in admin_view.json()["network"]
        other = nova(cloud, "GET", f"/os-networks/{theirs['id']}", who="demo", version="2.1")
        assert other.status_code == 404 and "itemNotFound" in other.json()
        assert nova(cloud, "GET", "/os-networks", who="demo", version="2.36").status_code == 404
        tenant = nova(cloud, "GET", "/os-tenant-networks", who="demo", version="2.1").json()
        assert {"id": mine["id"], "label": mine["name"], "cidr": "None"} in tenant["networks"]
        assert nova(cloud, "GET", f"/os-tenant-networks/{mine['id']}", who="demo",
                    version="2.1").json()["network"]["id"] == mine["id"]
        assert nova(cloud, "GET", "/os-tenant-networks", who="demo",
                    version="2.36").status_code == 404
    finally:
        for n in (mine, theirs):
            n["conn"].network.delete_network(n["id"])


def test_flavor_with_integer_id(cloud: RunningCloud) -> None:
    ident = 700000 + int(unique("x")[-4:], 16)
    made = nova(cloud, "POST", "/flavors", json={"flavor": {
        "name": unique("intflv"), "id": ident, "ram": 64, "vcpus": 1, "disk": 0}})
    assert made.status_code == 200 and made.json()["flavor"]["id"] == str(ident)
    try:
        assert connect(cloud).compute.get_flavor(str(ident)).ram == 64
        assert nova(cloud, "GET", f"/flavors/{ident}").json()["flavor"]["id"] == str(ident)
        bad = nova(cloud, "POST", "/flavors", json={"flavor": {
            "name": unique("intflv"), "id": True, "ram": 64, "vcpus": 1, "disk": 0}})
        assert bad.status_code == 400 and "id" in bad.json()["badRequest"]["message"]
    finally:
        nova(cloud, "DELETE", f"/flavors/{ident}")


@pytest.mark.cli
def test_cli_aggregate_zone_host_hypervisor(cloud: RunningCloud, cli: Cli,
                                           request: pytest.FixtureRequest) -> None:
    if "postgresql" in request.node.name:  # the SDK tests above cover both backends
        pytest.skip("CLI requests are the same on both backends: run on SQLite only")
    name, zone = unique("cliagg"), unique("cliaz")
    made = json.loads(cli.run("aggregate", "create", "--zone", zone, name, "-f", "json").stdout)
    path = f"/os-aggregates/{made['id']}"
    try:
        cli.run("aggregate", "add", "host", name, HOST)
        cli.run("aggregate", "set", "--zone", zone + "b", "--property", "ssd=true", name)
        shown = nova(cloud, "GET", path).json()["aggregate"]
        assert shown["availability_zone"] == zone + "b" and shown["hosts"] == [HOST]
        assert shown["metadata"]["ssd"] == "true"
        zones = json.loads(cli.run("availability", "zone", "list", "--compute", "--long",
                                   "-f", "json").stdout)
        assert (zone + "b", HOST) in {(z["Zone Name"], z["Host Name"]) for z in zones}
        hosts = json.loads(cli.run("--os-compute-api-version", "2.1", "host", "list",
                                   "-f", "json").stdout)
        assert {"Host Name": HOST, "Service": "compute", "Zone": zone + "b"} in hosts
        hyp = json.loads(cli.run("hypervisor", "show", HOST, "-f", "json").stdout)
        assert hyp["hypervisor_hostname"] == HOST and name in hyp["aggregates"]
        assert hyp["uptime"] and hyp["load_average"]  # parsed from os-hypervisors/uptime
    finally:
        nova(cloud, "POST", path + "/action", json={"remove_host": {"host": HOST}})
        nova(cloud, "DELETE", path)


def test_usage_audit_log_external_events_diagnostics(cloud: RunningCloud) -> None:
    logs = nova(cloud, "GET", "/os-instance_usage_audit_log").json()[
        "instance_usage_audit_logs"]
    assert HOST in logs["hosts_not_run"] and logs["num_hosts_done"] == 0
    assert logs["overall_status"] == f"0 of {logs['num_hosts']} hosts done. 0 errors."
    one = nova(cloud, "GET", "/os-instance_usage_audit_log/2026-03-15 10:00:00").json()
    assert (one["instance_usage_audit_log"]["period_beginning"],
            one["instance_usage_audit_log"]["period_ending"]) == ("2026-02-01 00:00:00",
                                                                  "2026-03-01 00:00:00")
    bad = nova(cloud, "GET", "/os-instance_usage_audit_log/yesterday")
    assert bad.status_code == 400 and "Invalid timestamp" in bad.text
    assert nova(cloud, "GET", "/os-instance_usage_audit_log", who="demo").status_code == 403
    conn = connect(cloud)
    img = conn.image.create_image(name=unique("img"), data=b"\0" * 4096, disk_format="raw",
                                  container_format="bare")
    server = conn.compute.create_server(name=unique("vm"), image_id=img.id, flavor_id="42",
                                        networks="none")
    try:
        conn.compute.wait_for_server(server, wait=20)
        missing = "00000000-0000-0000-0000-000000000000"
        events = [{"name": "network-changed", "server_uuid": server.id, "tag": "p1"},
                  {"name": "network-vif-plugged", "server_uuid": missing}]
        r = nova(cloud, "POST", "/os-server-external-events", json={"events": events})
        assert r.status_code == 207
        assert [(e["code"], e["status"]) for e in r.json()["events"]] == [
            (200, "completed"), (404, "failed")]
        assert nova(cloud, "POST", "/os-server-external-events", json={"events": [
            events[1]]}).status_code == 404
        extended = nova(cloud, "POST", "/os-server-external-events", version="2.51", json={
            "events": [{"name": "volume-extended", "server_uuid": server.id}, events[0]]})
        assert [e["code"] for e in extended.json()["events"]] == [400, 200]
        for body, field in (({"events": [{"name": "reboot", "server_uuid": server.id}]},
                             "name"),
                            ({"events": [{"name": "network-changed"}]}, "server_uuid"),
                            ({"events": []}, "events")):
            bad = nova(cloud, "POST", "/os-server-external-events", json=body)
            assert bad.status_code == 400 and field in bad.text, body
        assert nova(cloud, "POST", "/os-server-external-events", who="demo",
                    json={"events": events}).status_code == 403
        diag = nova(cloud, "GET", f"/servers/{server.id}/diagnostics", version="2.48").json()
        assert (diag["state"], diag["num_cpus"], diag["num_disks"], diag["num_nics"]) == (
            "running", 1, 1, 0)
        assert diag["cpu_details"] == [{"id": 0, "time": None, "utilisation": None}]
        assert diag["memory_details"] == {"maximum": 0, "used": None}  # GiB, as Nova
        assert nova(cloud, "GET", f"/servers/{server.id}/diagnostics",
                    version="2.1").json() == {"memory": 128 * 1024}
        assert nova(cloud, "GET", f"/servers/{server.id}/diagnostics",
                    who="demo").status_code == 403
        assert nova(cloud, "GET", f"/servers/{missing}/diagnostics").status_code == 404
    finally:
        conn.compute.delete_server(server, force=True)
        conn.compute.wait_for_delete(server, wait=20)
        conn.image.delete_image(img)
