"""Port quotas count every port a project holds (security review finding 7: a port that
called itself ``network:floatingip`` was not counted, so a tenant made as many as it liked
and drained shared subnets), and hold under concurrent creates (finding 10): with a quota of
N, 3N creates at once make exactly N, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.api.conftest import cloud, pg_server  # noqa: F401  (the API suite's clouds)
from tests.security.test_network_ports import Member, make_member, make_net, neutron, refused
from tests.support.server import RunningCloud

N = 4


@pytest.fixture
def tenant(cloud: RunningCloud) -> Iterator[Member]:  # noqa: F811
    yield from make_member(cloud)


def _quota(c: RunningCloud, project: str, ports: int) -> None:
    r = neutron(c, "PUT", f"/quotas/{project}", c.admin_token(), {"quota": {"port": ports}})
    assert r.status_code == 200, r.text


def test_ports_that_call_themselves_l3_ports_still_count(
        cloud: RunningCloud, tenant: Member) -> None:  # noqa: F811
    net = make_net(cloud, tenant.token, "10.141.0.0/24")
    _quota(cloud, tenant.project_id, 2)
    made = []
    for owner in ("network:floatingip", "network:router_gateway"):
        r = neutron(cloud, "POST", "/ports", tenant.token, {"port": {
            "network_id": net.id, "device_owner": owner}})
        assert r.status_code == 201, r.text
        made.append(r.json()["port"]["id"])
    r = neutron(cloud, "POST", "/ports", tenant.token, {"port": {
        "network_id": net.id, "device_owner": "network:floatingip"}})
    refused(r, 409, "OverQuota", "Quota exceeded for resources: ['port']")
    usage = neutron(cloud, "GET", f"/quotas/{tenant.project_id}/details", tenant.token)
    assert usage.json()["quota"]["port"]["used"] == 2


def test_concurrent_port_creates_stop_at_the_quota(
        cloud: RunningCloud, tenant: Member) -> None:  # noqa: F811
    net = make_net(cloud, tenant.token, "10.142.0.0/24")
    _quota(cloud, tenant.project_id, N)
    url = f"{cloud.base_url}/networking/v2.0/ports"
    headers = {"X-Auth-Token": tenant.token}

    def send(_i: int) -> httpx.Response:
        with httpx.Client(timeout=60) as client:
            return client.post(url, json={"port": {"network_id": net.id}}, headers=headers)

    with ThreadPoolExecutor(3 * N) as pool:
        replies = list(pool.map(send, range(3 * N)))
    made = [r for r in replies if r.status_code == 201]
    assert len(made) == N, [(r.status_code, r.text) for r in replies]
    for r in replies:
        if r.status_code != 201:
            refused(r, 409, "OverQuota", "Quota exceeded for resources: ['port']")
    listed = neutron(cloud, "GET", f"/ports?network_id={net.id}", tenant.token)
    assert len(listed.json()["ports"]) == N
