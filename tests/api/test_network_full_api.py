"""Neutron behaviour tempest's whole API suite checks beyond the guideline (the fixes of
docs/interop.md "Whole tempest API suite"), through the real openstacksdk."""

from __future__ import annotations

import openstack
import pytest
from openstack import exceptions as exc

from tests.api.conftest import unique

Conn = openstack.connection.Connection


def test_external_network_goes_with_its_free_floating_ips(admin: Conn, demo: Conn) -> None:
    """An external network holding floating IPs no port uses can be deleted, and they go
    with it (tempest's test_delete_external_networks_with_floating_ip); any other port
    still keeps it in use (409)."""
    net = admin.network.create_network(name=unique("ext"), is_router_external=True)
    admin.network.create_subnet(network_id=net.id, cidr="198.51.100.0/24", ip_version=4)
    fip = admin.network.create_ip(floating_network_id=net.id)
    admin.network.delete_network(net)
    assert admin.network.find_ip(fip.id) is None
    assert admin.network.find_network(net.id) is None

    # a port other than the floating IP's still holds a network
    other = admin.network.create_network(name=unique("ext"), is_router_external=True)
    admin.network.create_subnet(network_id=other.id, cidr="198.51.101.0/24", ip_version=4)
    kept = admin.network.create_ip(floating_network_id=other.id)
    port = admin.network.create_port(network_id=other.id)
    with pytest.raises(exc.ConflictException):
        admin.network.delete_network(other)
    assert admin.network.get_ip(kept.id).floating_network_id == other.id
    admin.network.delete_port(port)
    admin.network.delete_network(other)
    assert admin.network.find_ip(kept.id) is None
    assert demo.network.find_network(other.id) is None
