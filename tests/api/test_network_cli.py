"""The real `openstack network/subnet/port/router/floating ip/security group` commands."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import Cli, unique


def _json(cli: Cli, *args: str, cloud: str = "onestack") -> dict:  # type: ignore[type-arg]
    return json.loads(cli.run(*args, "-f", "json", cloud=cloud).stdout)


@pytest.mark.sqlite_only
def test_cli_network_workflow(cli: Cli) -> None:
    public = unique("public")
    cli.run("network", "create", "--external", "--provider-network-type", "flat",
            "--provider-physical-network", public, public)
    cli.run("subnet", "create", "--network", public, "--subnet-range", "172.25.0.0/24",
            unique("pubsub"))
    net, sub = unique("net"), unique("sub")
    created = _json(cli, "network", "create", net)
    assert created["status"] == "ACTIVE"
    subnet = _json(cli, "subnet", "create", "--network", net, "--subnet-range",
                   "192.168.77.0/24", "--dns-nameserver", "8.8.8.8", sub)
    assert subnet["gateway_ip"] == "192.168.77.1"
    port = _json(cli, "port", "create", "--network", net, "--fixed-ip",
                 "subnet=" + sub + ",ip-address=192.168.77.20", unique("port"))
    assert "192.168.77.20" in str(port["fixed_ips"])
    dup = cli.run("port", "create", "--network", net, "--fixed-ip",
                  "subnet=" + sub + ",ip-address=192.168.77.20", unique("port"), check=False)
    assert dup.returncode != 0
    router = unique("router")
    cli.run("router", "create", router)
    cli.run("router", "set", "--external-gateway", public, router)
    cli.run("router", "add", "subnet", router, sub)
    fip = _json(cli, "floating", "ip", "create", "--port", port["id"], public)
    assert fip["fixed_ip_address"] == "192.168.77.20"
    cli.run("floating", "ip", "unset", "--port", fip["id"])
    cli.run("floating", "ip", "delete", fip["id"])
    cli.run("router", "remove", "subnet", router, sub)
    cli.run("router", "delete", router)
    busy = cli.run("network", "delete", net, check=False)
    assert busy.returncode != 0
    cli.run("port", "delete", port["id"])
    cli.run("network", "delete", net)


def test_cli_security_groups(cli: Cli) -> None:
    name = unique("sg")
    cli.run("security", "group", "create", name, cloud="onestack-demo")
    rule = _json(cli, "security", "group", "rule", "create", "--protocol", "tcp",
                 "--dst-port", "22", name, cloud="onestack-demo")
    assert rule["port_range_min"] == 22
    bad = cli.run("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port",
                  "90:80", name, cloud="onestack-demo", check=False)
    assert bad.returncode != 0
    rows = _json(cli, "security", "group", "list", cloud="onestack-demo")
    assert {"default", name} <= {r["Name"] for r in rows}
    cli.run("security", "group", "delete", name, cloud="onestack-demo")
