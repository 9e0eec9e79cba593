"""Hypothesis-generated requests against every Neutron route: never a 5xx."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onestack.api.network.routes import ROUTES
from tests.support.server import RunningCloud

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40),
                         st.floats(allow_nan=False, allow_infinity=False),
                         st.text(max_size=40),
                         st.sampled_from(["10.0.0.0/24", "10.0.0.5", "::/0", "2001:db8::/64",
                                          "tcp", "icmp", "ingress", "IPv6", "slaac",
                                          "fa:16:3e:00:00:01", "vlan", "flat", "0.0.0.0/0"]))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12)
KEYS = ["name", "network_id", "cidr", "ip_version", "gateway_ip", "allocation_pools",
        "fixed_ips", "subnet_id", "ip_address", "mac_address", "shared", "router:external",
        "provider:network_type", "provider:segmentation_id", "provider:physical_network",
        "external_gateway_info", "routes", "port_id", "floating_network_id",
        "security_group_id", "direction", "protocol", "port_range_min", "port_range_max",
        "remote_ip_prefix", "remote_group_id", "ethertype", "prefixes", "prefixlen",
        "subnetpool_id", "ipv6_ra_mode", "ipv6_address_mode", "host_routes",
        "dns_nameservers", "mtu", "allowed_address_pairs", "security_groups", "tags",
        "binding:profile", "project_id", "min_prefixlen", "network", "port"]
keyed = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6)
wrappers = ["network", "subnet", "port", "router", "floatingip", "security_group",
            "security_group_rule", "subnetpool", "quota", "networks", "ports", "tags"]
bodies = st.one_of(json_values, st.builds(lambda k, v: {k: v}, st.sampled_from(wrappers), keyed),
                   st.builds(lambda k, v: {k: [v, v]}, st.sampled_from(wrappers), keyed),
                   st.binary(max_size=64))
segment = st.one_of(st.sampled_from(["x", "0", "%00", "..", "a" * 300]),
                    st.text(alphabet="abcdef0123456789-_", min_size=1, max_size=40))

WRITE_ROUTES = [r for r in ROUTES if r.method in ("POST", "PUT")]
READ_ROUTES = [r for r in ROUTES if r.method == "GET"]


def fill(path: str, values: list[str]) -> str:
    it = iter(values)
    return re.sub(r"{\w+}", lambda _m: next(it, "x"), path)


@pytest.fixture(scope="module")
def headers(cloud: RunningCloud) -> dict[str, dict[str, str]]:
    return {"admin": {"X-Auth-Token": cloud.admin_token()},
            "demo": {"X-Auth-Token": cloud.token("demo")}}


@pytest.fixture(scope="module")
def real_ids(cloud: RunningCloud, headers: dict[str, dict[str, str]]) -> list[str]:
    base = f"{cloud.base_url}/networking/v2.0"
    h = headers["admin"]
    net = httpx.post(f"{base}/networks", json={"network": {"name": "fuzz"}}, headers=h).json()
    sub = httpx.post(f"{base}/subnets", json={"subnet": {
        "network_id": net["network"]["id"], "cidr": "10.99.0.0/24", "ip_version": 4}},
        headers=h).json()
    return [net["network"]["id"], sub["subnet"]["id"]]


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(WRITE_ROUTES), body=bodies, parts=st.lists(segment, max_size=3),
       who=st.sampled_from(["admin", "demo", "none"]), use_real=st.booleans())
def test_write_routes_never_500(cloud: RunningCloud, headers: dict[str, dict[str, str]],
                                real_ids: list[str], route: Any, body: Any, parts: list[str],
                                who: str, use_real: bool) -> None:
    if use_real:
        parts = [real_ids[0], *parts]
        if isinstance(body, dict):
            for value in body.values():
                if isinstance(value, dict) and "network_id" in value:
                    value["network_id"] = real_ids[0]
    url = cloud.base_url + "/networking" + fill(route.path, parts)
    h = dict(headers.get(who, {}))
    if isinstance(body, bytes):
        r = httpx.request(route.method, url, content=body,
                          headers={**h, "Content-Type": "application/json"})
    else:
        r = httpx.request(route.method, url, json=body, headers=h)
    assert r.status_code < 500, (route.method, url, body, r.text)
    if r.status_code >= 400:
        assert r.json()["NeutronError"]["type"]


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(READ_ROUTES), parts=st.lists(segment, max_size=3),
       query=st.dictionaries(st.sampled_from([
           "name", "shared", "router:external", "limit", "marker", "sort_key", "sort_dir",
           "fields", "tags", "not-tags-any", "fixed_ips", "mtu", "page_reverse", "ip_version",
           "revision_number", "provider:segmentation_id", "security_groups", "gateway_ip"]),
           st.text(max_size=10), max_size=4))
def test_read_routes_never_500(cloud: RunningCloud, headers: dict[str, dict[str, str]],
                               route: Any, parts: list[str], query: dict[str, str]) -> None:
    url = cloud.base_url + "/networking" + fill(route.path, parts)
    r = httpx.get(url, params=query, headers=headers["demo"])
    assert r.status_code < 500, (url, query, r.text)
