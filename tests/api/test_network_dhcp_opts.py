"""Ports' extra_dhcp_opts (create, Neutron's merge on update, null removes one, 400 naming
the field), the service providers list and the `tag` extension alias, through the real
openstacksdk and the `openstack` CLI. What reaches dnsmasq's files:
tests/unit/network/test_dhcp_options.py."""

from __future__ import annotations

from typing import Any

import openstack

from tests.api.conftest import Cli, unique
from tests.support.server import RunningCloud

Conn = openstack.connection.Connection


def _opts(port: Any) -> set[tuple[str, str, int]]:
    return {(o["opt_name"], o["opt_value"], o["ip_version"]) for o in port.extra_dhcp_opts}


def test_extra_dhcp_opts(cloud: RunningCloud, admin: Conn, demo: Conn, cli: Cli) -> None:
    net = demo.network.create_network(name=unique("pxe"))
    demo.network.create_subnet(network_id=net.id, cidr="10.78.0.0/24", ip_version=4)
    port = demo.network.create_port(network_id=net.id, extra_dhcp_opts=[
        {"opt_name": "bootfile-name", "opt_value": "pxelinux.0"},
        {"opt_name": "tftp-server", "opt_value": "123.123.123.123"}])
    assert _opts(port) == {("bootfile-name", "pxelinux.0", 4),
                           ("tftp-server", "123.123.123.123", 4)}
    listed = [p for p in demo.network.ports(network_id=net.id) if p.id == port.id]
    assert _opts(listed[0]) == _opts(port)
    # an update replaces by name and IP version, adds the new, a null value removes one
    port = demo.network.update_port(port, extra_dhcp_opts=[
        {"opt_name": "bootfile-name", "opt_value": "ipxe.efi"},
        {"opt_name": "tftp-server", "opt_value": None},
        {"opt_name": "dns-server", "opt_value": "[2001:db8::53]", "ip_version": 6}])
    assert _opts(demo.network.get_port(port.id)) == {
        ("bootfile-name", "ipxe.efi", 4), ("dns-server", "[2001:db8::53]", 6)}
    for opts, text in (([{"opt_name": "bootfile name", "opt_value": "x"}], "opt_name"),
                       ([{"opt_name": "b", "opt_value": "x\ny"}], "opt_value"),
                       ([{"opt_name": "b", "opt_value": "x", "ip_version": 5}], "ip_version"),
                       ([{"opt_name": "b", "opt_value": "x", "colour": 1}], "extra_dhcp_opts"),
                       ("tftp", "extra_dhcp_opts")):
        r = demo.network.put(f"/ports/{port.id}", json={"port": {"extra_dhcp_opts": opts}})
        assert r.status_code == 400, r.text
        assert "extra_dhcp_opts" in r.json()["NeutronError"]["message"] and text in r.text
    assert _opts(demo.network.get_port(port.id)) == {
        ("bootfile-name", "ipxe.efi", 4), ("dns-server", "[2001:db8::53]", 6)}

    # service providers, and the older `tag` extension's alias
    assert [(p.service_type, p.name, p.is_default)
            for p in demo.network.service_providers()] == [("LOADBALANCERV2", "haproxy", True)]
    assert {"tag", "extra_dhcp_opt", "service-type"} <= {
        e.alias for e in demo.network.extensions()}
    if cloud.settings.database_url.startswith("sqlite"):  # the CLI reads no database
        out = cli.run("port", "show", port.id, "-f", "json", "-c", "extra_dhcp_opts").stdout
        assert "ipxe.efi" in out
    demo.network.delete_port(port)
    demo.network.delete_network(net)
