"""Octavia flavors, flavor profiles, availability zones and their profiles, and the haproxy
provider's capabilities: openstacksdk, the `openstack loadbalancer` CLI and raw HTTP with
real tokens (admin, a member of another project, a reader)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openstack
import pytest
from openstack import exceptions as exc

from tests.api.conftest import Cli, connect, unique
from tests.api.test_key_manager import User, make_user
from tests.api.test_load_balancer import active, driver_spec, fault, lb_net, raw
from tests.support.server import RunningCloud

Conn = openstack.connection.Connection
SINGLE = json.dumps({"loadbalancer_topology": "SINGLE"})


def as_user(cloud: RunningCloud, who: User, method: str, path: str, body: Any = None
            ) -> httpx.Response:
    return httpx.request(method, f"{cloud.base_url}/load-balancer/v2/lbaas{path}", json=body,
                         headers=who.h(), timeout=30)


def test_capabilities_are_what_the_data_plane_does(cloud: RunningCloud, admin: Conn) -> None:
    caps = list(admin.load_balancer.provider_flavor_capabilities("haproxy"))
    assert [c.name for c in caps] == ["loadbalancer_topology", "connection_limit",
                                      "timeout_client_data", "timeout_member_connect",
                                      "timeout_member_data"]
    assert "SINGLE" in caps[0].description and "," not in caps[0].description
    r = raw(cloud, "GET", "/providers/haproxy/availability_zone_capabilities")
    assert [c["name"] for c in r.json()["availability_zone_capabilities"]] == ["compute_zone"]
    r = raw(cloud, "GET", "/providers/haproxy/flavor_capabilities?fields=name"
                          "&name=loadbalancer_topology")
    assert r.json() == {"flavor_capabilities": [{"name": "loadbalancer_topology"}]}
    r = raw(cloud, "GET", "/providers/haproxy/flavor_capabilities?name=nope")
    assert r.json() == {"flavor_capabilities": []}
    r = raw(cloud, "GET", "/providers/nope/flavor_capabilities")
    assert fault(r, 400) == "Validation failure: Provider 'nope' is not enabled."


def test_flavor_profiles_and_flavors(cloud: RunningCloud, admin: Conn) -> None:
    lbs = admin.load_balancer
    # data the provider does not do: Octavia's ProviderUnsupportedOptionError (501)
    for data, why in (({"loadbalancer_topology": "ACTIVE_STANDBY"}, "no standby"),
                      ({"compute_flavor": "m1.small"}, "'compute_flavor' was unexpected"),
                      ({"loadbalancer_topology": 1}, "is not of type 'string'")):
        r = raw(cloud, "POST", "/flavorprofiles", {"flavorprofile": {
            "name": "x", "provider_name": "haproxy", "flavor_data": json.dumps(data)}})
        assert r.status_code == 501, r.text
        assert r.json()["faultstring"].startswith(
            "Provider 'haproxy' does not support a requested option: ") and why in r.text
    r = raw(cloud, "POST", "/flavorprofiles", {"flavorprofile": {
        "name": "x", "provider_name": "haproxy", "flavor_data": "{nope"}})
    assert fault(r, 400) == "{nope is not a valid option for flavor data"
    r = raw(cloud, "POST", "/flavorprofiles", {"flavorprofile": {
        "name": "x", "provider_name": "f5", "flavor_data": SINGLE}})
    assert fault(r, 400) == "Provider 'f5' is not enabled."
    r = raw(cloud, "POST", "/flavorprofiles", {"flavorprofile": {"name": "x",
                                                                 "provider_name": "haproxy"}})
    assert "flavor_data" in fault(r, 400)
    assert not [p for p in lbs.flavor_profiles() if p.name == "x"]

    profile = lbs.create_flavor_profile(name=unique("fp"), provider_name="haproxy",
                                        flavor_data=SINGLE)
    assert lbs.get_flavor_profile(profile.id).flavor_data == SINGLE
    name = unique("flavor")
    flavor = lbs.create_flavor(name=name, flavor_profile_id=profile.id, description="small")
    assert flavor.is_enabled is True and flavor.flavor_profile_id == profile.id
    r = raw(cloud, "POST", "/flavors", {"flavor": {"name": name,
                                                   "flavor_profile_id": profile.id}})
    assert fault(r, 409) == f"A flavor of {name} already exists."
    missing = "00000000-0000-4000-8000-000000000001"
    r = raw(cloud, "POST", "/flavors", {"flavor": {"name": "y", "flavor_profile_id": missing}})
    assert "flavor_profile_id" in fault(r, 400)
    assert lbs.find_flavor(name).id == flavor.id
    assert lbs.update_flavor(flavor.id, description="smaller").description == "smaller"
    r = raw(cloud, "GET", f"/flavors?name={name}&enabled=True&fields=id")
    assert r.json() == {"flavors": [{"id": flavor.id}], "flavors_links": []}

    # a load balancer with the flavor; unknown and disabled flavors are 400 (Octavia)
    _net, sub = lb_net(admin, "10.71.0.0/24")
    lb = active(admin, lbs.create_load_balancer(vip_subnet_id=sub.id, flavor_id=flavor.id).id)
    assert lb.flavor_id == flavor.id
    r = raw(cloud, "POST", "/loadbalancers", {"loadbalancer": {"vip_subnet_id": sub.id,
                                                               "flavor_id": missing}})
    assert fault(r, 400) == "Validation failure: Invalid flavor_id."
    assert [x.id for x in lbs.load_balancers() if x.vip_subnet_id == sub.id] == [lb.id]
    lbs.update_flavor(flavor.id, is_enabled=False)
    r = raw(cloud, "POST", "/loadbalancers", {"loadbalancer": {"vip_subnet_id": sub.id,
                                                               "flavor_id": flavor.id}})
    assert fault(r, 400) == f"The selected flavor is not allowed in this deployment: " \
                            f"{flavor.id}"
    # in use: the flavor, and the profile (also its data) cannot go
    r = raw(cloud, "DELETE", f"/flavors/{flavor.id}")
    assert fault(r, 409) == f"Flavor {flavor.id} is in use and cannot be modified."
    r = raw(cloud, "PUT", f"/flavorprofiles/{profile.id}", {"flavorprofile": {
        "flavor_data": "{}"}})
    assert fault(r, 409) == f"Flavor profile {profile.id} is in use and cannot be modified."
    assert lbs.update_flavor_profile(profile.id, name="renamed").name == "renamed"
    r = raw(cloud, "DELETE", f"/flavorprofiles/{profile.id}")
    assert fault(r, 409) == f"Flavor profile {profile.id} is in use and cannot be modified."
    lbs.delete_load_balancer(lb.id)
    for _ in range(100):  # the load balancer is purged once its data plane is gone
        if raw(cloud, "DELETE", f"/flavors/{flavor.id}").status_code == 204:
            break
        time.sleep(0.05)
    assert fault(raw(cloud, "GET", f"/flavors/{flavor.id}"), 404) == \
        f"Flavor {flavor.id} not found."
    lbs.delete_flavor_profile(profile.id)
    assert fault(raw(cloud, "GET", f"/flavorprofiles/{profile.id}"), 404) == \
        f"Flavor profile {profile.id} not found."


def test_a_flavor_sets_its_listeners_defaults(cloud: RunningCloud, admin: Conn) -> None:
    """connection_limit and the timeouts of a flavor are what its load balancer's listeners
    get when they name none, down to the data plane's spec (haproxy maxconn, timeouts)."""
    lbs = admin.load_balancer
    for bad, why in (({"connection_limit": "many"}, "is not of type 'integer'"),
                     ({"timeout_member_data": -5}, "is not between 0 and 31536000")):
        r = raw(cloud, "POST", "/flavorprofiles", {"flavorprofile": {
            "name": "x", "provider_name": "haproxy", "flavor_data": json.dumps(bad)}})
        assert r.status_code == 501 and why in r.text, r.text
    data = {"loadbalancer_topology": "SINGLE", "connection_limit": 1000,
            "timeout_client_data": 20000, "timeout_member_data": 30000}
    profile = lbs.create_flavor_profile(name=unique("fp"), provider_name="haproxy",
                                        flavor_data=json.dumps(data))
    flavor = lbs.create_flavor(name=unique("tuned"), flavor_profile_id=profile.id)
    _net, sub = lb_net(admin, "10.77.0.0/24")
    lb = active(admin, lbs.create_load_balancer(vip_subnet_id=sub.id, flavor_id=flavor.id,
                                                listeners=[{"protocol": "TCP",
                                                            "protocol_port": 22}]).id)
    first = lbs.get_listener(lb.listeners[0]["id"])
    assert (first.connection_limit, first.timeout_client_data, first.timeout_member_data,
            first.timeout_member_connect) == (1000, 20000, 30000, 5000)
    second = lbs.create_listener(loadbalancer_id=lb.id, protocol="HTTP", protocol_port=80,
                                 connection_limit=5)
    active(admin, lb.id)
    assert (second.connection_limit, second.timeout_client_data) == (5, 20000)
    spec = {li.id: li for li in driver_spec(cloud, lb.id).listeners}
    assert (spec[first.id].connection_limit, spec[first.id].timeout_client_data) == \
        (1000, 20000)
    assert spec[second.id].connection_limit == 5
    lbs.delete_load_balancer(lb.id, cascade=True)


def test_availability_zones_are_the_network_nodes_compute_zone(cloud: RunningCloud,
                                                               admin: Conn) -> None:
    lbs = admin.load_balancer
    r = raw(cloud, "POST", "/availabilityzoneprofiles", {"availability_zone_profile": {
        "name": "x", "provider_name": "haproxy",
        "availability_zone_data": json.dumps({"compute_zone": "atlantis"})}})
    assert "field/attribute compute_zone. Value: 'atlantis'. Not a Nova availability " \
           "zone" in fault(r, 400)
    r = raw(cloud, "POST", "/availabilityzoneprofiles", {"availability_zone_profile": {
        "name": "x", "provider_name": "haproxy",
        "availability_zone_data": json.dumps({"management_network": "x"})}})
    assert r.status_code == 501 and "'management_network' was unexpected" in r.text
    # a zone made by an aggregate without the network node: real, but no load balancers
    far = unique("far")
    agg = admin.compute.create_aggregate(name=unique("agg"), availability_zone=far)
    try:
        here = lbs.create_availability_zone_profile(
            name=unique("azp"), provider_name="haproxy",
            availability_zone_data=json.dumps({"compute_zone": "nova"}))
        there = lbs.create_availability_zone_profile(
            name=unique("azp"), provider_name="haproxy",
            availability_zone_data=json.dumps({"compute_zone": far}))
        az_here, az_there = unique("az"), unique("az")
        lbs.create_availability_zone(name=az_here, availability_zone_profile_id=here.id)
        lbs.create_availability_zone(name=az_there, availability_zone_profile_id=there.id,
                                     description="far away")
        assert lbs.get_availability_zone(az_there).description == "far away"
        _net, sub = lb_net(admin, "10.72.0.0/24")
        lb = active(admin, lbs.create_load_balancer(vip_subnet_id=sub.id,
                                                    availability_zone=az_here).id)
        assert lb.availability_zone == az_here
        r = raw(cloud, "POST", "/loadbalancers", {"loadbalancer": {
            "vip_subnet_id": sub.id, "availability_zone": az_there}})
        assert f"is compute zone {far}" in fault(r, 400)
        r = raw(cloud, "POST", "/loadbalancers", {"loadbalancer": {
            "vip_subnet_id": sub.id, "availability_zone": "nowhere"}})
        assert fault(r, 400) == "Validation failure: Invalid availability zone."
        lbs.update_availability_zone(az_here, is_enabled=False)
        r = raw(cloud, "POST", "/loadbalancers", {"loadbalancer": {
            "vip_subnet_id": sub.id, "availability_zone": az_here}})
        assert fault(r, 400) == "The selected availability_zone is not allowed in this " \
                                f"deployment: {az_here}"
        assert [x.id for x in lbs.load_balancers() if x.vip_subnet_id == sub.id] == [lb.id]
        r = raw(cloud, "DELETE", f"/availabilityzones/{az_here}")
        assert fault(r, 409) == f"Availability Zone {az_here} is in use and cannot be " \
                                "modified."
        lbs.delete_load_balancer(lb.id)
        lbs.delete_availability_zone(az_there)
        r = raw(cloud, "DELETE", f"/availabilityzoneprofiles/{there.id}")
        assert r.status_code == 204
    finally:
        admin.compute.delete_aggregate(agg)


def test_who_may_read_and_write(cloud: RunningCloud, admin: Conn) -> None:
    """Octavia's policy: flavors and availability zones are read by every project's
    members and readers; profiles, capabilities and every write are admin's."""
    lbs = admin.load_balancer
    profile = lbs.create_flavor_profile(name=unique("fp"), provider_name="haproxy",
                                        flavor_data=SINGLE)
    flavor = lbs.create_flavor(name=unique("flavor"), flavor_profile_id=profile.id)
    member, reader = make_user(cloud, admin), make_user(cloud, admin, "reader")
    for who in (member, reader):
        r = as_user(cloud, who, "GET", "/flavors")
        assert flavor.id in [f["id"] for f in r.json()["flavors"]]
        assert as_user(cloud, who, "GET", f"/flavors/{flavor.id}").status_code == 200
        assert as_user(cloud, who, "GET", "/availabilityzones").status_code == 200
        for method, path, body in (
                ("GET", "/flavorprofiles", None), ("GET", f"/flavorprofiles/{profile.id}",
                                                   None),
                ("GET", "/providers/haproxy/flavor_capabilities", None),
                ("POST", "/flavors", {"flavor": {"name": "x",
                                                 "flavor_profile_id": profile.id}}),
                ("PUT", f"/flavors/{flavor.id}", {"flavor": {"enabled": False}}),
                ("DELETE", f"/flavors/{flavor.id}", None),
                ("POST", "/availabilityzoneprofiles", {"availability_zone_profile": {
                    "name": "x", "provider_name": "haproxy",
                    "availability_zone_data": "{}"}})):
            r = as_user(cloud, who, method, path, body)
            assert "os_load-balancer_api:" in fault(r, 403), (method, path)
    # a member of another project makes a load balancer with the admin's flavor
    conn = connect(cloud, "demo")
    _net, sub = lb_net(conn, "10.73.0.0/24")
    lb = active(conn, conn.load_balancer.create_load_balancer(vip_subnet_id=sub.id,
                                                              flavor_id=flavor.id).id)
    assert lb.flavor_id == flavor.id
    with pytest.raises(exc.ForbiddenException):
        conn.load_balancer.create_flavor(name="x", flavor_profile_id=profile.id)
    conn.load_balancer.delete_load_balancer(lb.id)


@pytest.mark.sqlite_only
def test_cli(cloud: RunningCloud, cli: Cli, admin: Conn) -> None:
    """`openstack loadbalancer flavorprofile/flavor/availabilityzoneprofile/
    availabilityzone create`, `provider capability list` and `loadbalancer create --flavor
    --availability-zone` (by name: the client looks each up in the lists). Refusals are
    the SDK tests' (each CLI call costs seconds of CI)."""
    fp, flavor, azp, az = unique("fp"), unique("fl"), unique("azp"), unique("az")
    cli.run("loadbalancer", "flavorprofile", "create", "--name", fp, "--provider", "haproxy",
            "--flavor-data", SINGLE)
    cli.run("loadbalancer", "flavor", "create", "--name", flavor, "--flavorprofile", fp,
            "--enable")
    cli.run("loadbalancer", "availabilityzoneprofile", "create", "--name", azp, "--provider",
            "haproxy", "--availability-zone-data", '{"compute_zone": "nova"}')
    cli.run("loadbalancer", "availabilityzone", "create", "--name", az,
            "--availabilityzoneprofile", azp)
    caps = json.loads(cli.run("loadbalancer", "provider", "capability", "list", "haproxy",
                              "-f", "json").stdout)
    assert {"loadbalancer_topology", "connection_limit", "compute_zone"} <= {
        c["name"] for c in caps}
    _net, sub = lb_net(admin, "10.74.0.0/24")
    made = json.loads(cli.run("loadbalancer", "create", "--vip-subnet-id", sub.id, "--flavor",
                              flavor, "--availability-zone", az, "-f", "json").stdout)
    assert made["availability_zone"] == az
    assert made["flavor_id"] == admin.load_balancer.find_flavor(flavor).id
    active(admin, made["id"])
    admin.load_balancer.delete_load_balancer(made["id"])
