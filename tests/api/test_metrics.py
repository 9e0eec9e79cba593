"""/metrics on the API port: who may read it, and that it moves with the requests served."""

from __future__ import annotations

import httpx
import pytest

from tests.support.prom import parse
from tests.support.server import RunningCloud

LATENCY = "onestack_api_request_duration_seconds"


def scrape(cloud: RunningCloud, token: str) -> httpx.Response:
    return httpx.get(f"{cloud.base_url}/metrics", headers={"X-Auth-Token": token})


def test_metrics_refused_without_token_or_admin(cloud: RunningCloud) -> None:
    r = httpx.get(f"{cloud.base_url}/metrics")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == 401
    r = httpx.get(f"{cloud.base_url}/metrics", headers={"X-Auth-Token": "not-a-token"})
    assert r.status_code == 401
    r = scrape(cloud, cloud.token("demo"))
    assert r.status_code == 403
    assert r.json()["error"]["code"] == 403
    # no bearer token configured: a bearer of any value is refused
    r = httpx.get(f"{cloud.base_url}/metrics", headers={"Authorization": "Bearer x"})
    assert r.status_code == 401


def test_metrics_bearer_token(cloud: RunningCloud, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cloud.runtime.operations, "token", "s3cret-scrape")
    ok = httpx.get(f"{cloud.base_url}/metrics",
                   headers={"Authorization": "Bearer s3cret-scrape"})
    assert ok.status_code == 200, ok.text
    assert ok.headers["content-type"].startswith("text/plain; version=0.0.4")
    parse(ok.text)
    bad = httpx.get(f"{cloud.base_url}/metrics", headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 401


def test_request_histogram_moves(cloud: RunningCloud) -> None:
    admin, demo = cloud.admin_token(), cloud.token("demo")
    labels = {"service": "compute", "method": "GET", "route": "/v2.1/flavors/{flavor_id}"}
    before = parse(scrape(cloud, admin).text)
    for _ in range(3):
        r = httpx.get(f"{cloud.base_url}/compute/v2.1/flavors/1",
                      headers={"X-Auth-Token": demo})
        assert r.status_code == 200
    missing = httpx.get(f"{cloud.base_url}/compute/v2.1/flavors/nope",
                        headers={"X-Auth-Token": demo})
    assert missing.status_code == 404
    after = parse(scrape(cloud, admin).text)
    assert after.types[LATENCY] == "histogram"
    assert after.value(LATENCY + "_count", **labels) == before.value(
        LATENCY + "_count", **labels) + 4
    assert after.value(LATENCY + "_bucket", le="+Inf", **labels) == before.value(
        LATENCY + "_bucket", le="+Inf", **labels) + 4
    assert after.value(LATENCY + "_sum", **labels) > before.value(LATENCY + "_sum", **labels)
    counts = "onestack_api_requests_total"
    assert after.value(counts, code="200", **labels) == before.value(
        counts, code="200", **labels) + 3
    assert after.value(counts, code="404", **labels) == before.value(
        counts, code="404", **labels) + 1
    # the route label is the template: raw ids never become label values
    assert not any("nope" in s.get("route", "") for s in after.series(counts))


def test_scrape_time_figures(cloud: RunningCloud) -> None:
    admin, demo = cloud.admin_token(), cloud.token("demo")
    before = parse(scrape(cloud, admin).text)
    net = httpx.post(f"{cloud.base_url}/networking/v2.0/networks", json={"network": {
        "name": "metrics-count"}}, headers={"X-Auth-Token": demo})
    assert net.status_code == 201, net.text
    try:
        exp = parse(scrape(cloud, admin).text)
    finally:
        httpx.delete(f"{cloud.base_url}/networking/v2.0/networks/{net.json()['network']['id']}",
                     headers={"X-Auth-Token": demo})
    assert exp.types["onestack_resources"] == "gauge"
    commits = "onestack_db_transaction_seconds_count"
    assert exp.value(commits, end="commit") > before.value(commits, end="commit")
    assert exp.value("onestack_resources", kind="networks", status="ACTIVE") == before.value(
        "onestack_resources", kind="networks", status="ACTIVE") + 1
    providers = exp.series("onestack_placement_capacity")
    assert {"VCPU", "MEMORY_MB"} <= {p["resource_class"] for p in providers}
    beats = exp.series("onestack_agent_heartbeat_age_seconds")
    assert beats and all(b["host"] for b in beats)
    assert exp.value("onestack_reconcile_passes_total", loop="compute") >= 1
    assert exp.types["onestack_db_pool_connections"] == "gauge"
