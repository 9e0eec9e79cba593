"""Hypothesis-generated requests against every compute route: never a 5xx."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onestack.api.compute.routes import ROUTES
from tests.support.server import RunningCloud

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40),
                         st.floats(allow_nan=False, allow_infinity=False),
                         st.text(max_size=40))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12)
KEYS = ["name", "imageRef", "flavorRef", "networks", "metadata", "key_name", "user_data",
        "min_count", "max_count", "description", "tags", "ram", "vcpus", "disk", "id",
        "public_key", "type", "type", "length", "locked_reason", "policy", "policies",
        "rules", "status", "host", "binary", "cores", "instances", "extra_specs", "tenant",
        "accessIPv4", "OS-DCF:diskConfig", "availability_zone", "config_drive", "meta",
        "security_groups", "parent_group_id", "ip_protocol", "from_port", "to_port", "cidr",
        "group_id", "port_id", "net_id", "fixed_ips", "uuid", "port", "fixed_ip"]
keyed = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5)
wrappers = ["server", "flavor", "keypair", "quota_set", "server_group", "reboot", "os-stop",
            "os-start", "pause", "resize", "rebuild", "createImage", "os-getConsoleOutput",
            "lock", "unlock", "addTenantAccess", "removeTenantAccess", "confirmResize",
            "extra_specs", "metadata", "meta", "tags", "forceDelete", "suspend",
            "security_group", "security_group_rule", "interfaceAttachment",
            "addSecurityGroup", "removeSecurityGroup"]
bodies = st.one_of(json_values, st.builds(lambda k, v: {k: v}, st.sampled_from(wrappers), keyed),
                   st.binary(max_size=64))
segment = st.one_of(st.sampled_from(["default", "x", "0", "%00", "..", "a" * 300]),
                    st.text(alphabet="abcdef0123456789-_", min_size=1, max_size=40))

# Disabling or forcing down the shared test cloud's one compute service would fail other
# tests; those routes have their own tests.
WRITE_ROUTES = [r for r in ROUTES if r.method in ("POST", "PATCH", "PUT")
                and "os-services" not in r.path]
READ_ROUTES = [r for r in ROUTES if r.method == "GET"]


def fill(path: str, values: list[str]) -> str:
    it = iter(values)
    return re.sub(r"{\w+}", lambda _m: next(it, "x"), path)


@pytest.fixture(scope="module")
def admin_headers(cloud: RunningCloud) -> dict[str, str]:
    return {"X-Auth-Token": cloud.admin_token()}


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(WRITE_ROUTES), body=bodies, parts=st.lists(segment, max_size=4),
       as_admin=st.booleans(), version=st.sampled_from(["2.1", "2.35", "2.60", "2.79"]))
def test_write_routes_never_500(cloud: RunningCloud, admin_headers: dict[str, str],
                                route: Any, body: Any, parts: list[str], as_admin: bool,
                                version: str) -> None:
    url = cloud.base_url + "/compute" + fill(route.path, parts)
    headers = dict(admin_headers) if as_admin else {}
    headers["OpenStack-API-Version"] = f"compute {version}"
    if isinstance(body, bytes):
        r = httpx.request(route.method, url, content=body,
                          headers={**headers, "Content-Type": "application/json"})
    else:
        r = httpx.request(route.method, url, json=body, headers=headers)
    assert r.status_code < 500, (route.method, url, body, r.text)
    if r.status_code >= 400:
        body = r.json()
        assert next(iter(body.values()))["code"] == r.status_code


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(READ_ROUTES), parts=st.lists(segment, max_size=4),
       query=st.dictionaries(st.sampled_from(["name", "status", "image", "flavor", "ip",
                                              "changes-since", "tags", "all_tenants",
                                              "host", "limit", "marker", "sort_key",
                                              "sort_dir", "minRam", "is_public", "start",
                                              "detailed", "user_id"]),
                             st.text(max_size=10), max_size=3))
def test_read_routes_never_500(cloud: RunningCloud, admin_headers: dict[str, str], route: Any,
                               parts: list[str], query: dict[str, str]) -> None:
    url = cloud.base_url + "/compute" + fill(route.path, parts)
    r = httpx.get(url, params=query, headers={**admin_headers,
                                              "OpenStack-API-Version": "compute 2.79"})
    assert r.status_code < 500, (url, query, r.text)


# --- the networking routes against a real server on a real network --------------------------
@pytest.fixture(scope="module")
def wired_server(cloud: RunningCloud, admin_headers: dict[str, str]) -> str:
    """A server of the admin project with a port on a network of its own."""
    net = httpx.post(f"{cloud.base_url}/networking/v2.0/networks", headers=admin_headers,
                     json={"network": {"name": "fuzz-net"}}).json()["network"]
    httpx.post(f"{cloud.base_url}/networking/v2.0/subnets", headers=admin_headers,
               json={"subnet": {"network_id": net["id"], "ip_version": 4,
                                "cidr": "10.77.0.0/24"}}).raise_for_status()
    image = httpx.post(f"{cloud.base_url}/image/v2/images", headers=admin_headers,
                       json={"name": "fuzz-img", "disk_format": "raw",
                             "container_format": "bare"}).json()
    httpx.put(f"{cloud.base_url}/image/v2/images/{image['id']}/file", content=b"\0" * 512,
              headers={**admin_headers, "Content-Type": "application/octet-stream"}
              ).raise_for_status()
    r = httpx.post(f"{cloud.base_url}/compute/v2.1/servers", headers=admin_headers, json={
        "server": {"name": "fuzz-vm", "imageRef": image["id"], "flavorRef": "42",
                   "networks": [{"uuid": net["id"]}]}})
    r.raise_for_status()
    return str(r.json()["server"]["id"])


net_bodies = st.one_of(bodies, st.builds(lambda k, v: {k: v}, st.sampled_from([
    "interfaceAttachment", "addSecurityGroup", "removeSecurityGroup"]), keyed))


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(["/os-interface", "/action", "/os-interface/x",
                             "/os-security-groups", "/ips", "/ips/fuzz-net"]),
       method=st.sampled_from(["GET", "POST", "DELETE"]), body=net_bodies,
       version=st.sampled_from(["2.1", "2.35", "2.49", "2.79"]))
def test_server_network_routes_never_500(cloud: RunningCloud, admin_headers: dict[str, str],
                                         wired_server: str, path: str, method: str,
                                         body: Any, version: str) -> None:
    url = f"{cloud.base_url}/compute/v2.1/servers/{wired_server}{path}"
    headers = {**admin_headers, "OpenStack-API-Version": f"compute {version}"}
    if method == "DELETE" and path == "/os-interface/x":
        body = None
    if isinstance(body, bytes):
        r = httpx.request(method, url, content=body,
                          headers={**headers, "Content-Type": "application/json"})
    else:
        r = httpx.request(method, url, json=body, headers=headers)
    assert r.status_code < 500, (method, url, body, r.text)
    if r.status_code >= 400:
        assert next(iter(r.json().values()))["code"] == r.status_code
