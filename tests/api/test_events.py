"""The event stream (``GET /operator/v1/events``) over real HTTP with real tokens: a server's
BUILD to ACTIVE reaches its project's stream (latency printed), another project's stream sees
none of it, an admin's all_projects stream does; resume with Last-Event-ID; refusals. On
PostgreSQL, a second bus (another process's, over LISTEN/NOTIFY) receives the same change."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from onestack.api.operator import events as operator_events
from onestack.core.events.bus import EventBus, Filter
from onestack.core.events.pg import PgNotifyTransport
from tests.api.conftest import connect, unique
from tests.support.server import RunningCloud, password_token
from tests.support.sse import Received, SseStream

EVENTS = "/operator/v1/events"


def _url(cloud: RunningCloud, query: str = "") -> str:
    return f"{cloud.base_url}{EVENTS}{'?' + query if query else ''}"


@pytest.fixture(scope="module")
def outsider(cloud: RunningCloud) -> Iterator[str]:
    """A member of a third project (neither admin's nor demo's): its token."""
    admin = connect(cloud)
    name, password = unique("evt"), uuid.uuid4().hex
    project = admin.identity.create_project(name=name, domain_id="default")
    user = admin.identity.create_user(name=name, password=password, domain_id="default",
                                      default_project_id=project.id)
    member = admin.identity.find_role("member")
    admin.identity.assign_project_role_to_user(project, user, member)
    yield password_token(cloud.auth_url, name, password, name)
    admin.identity.delete_user(user.id)
    admin.identity.delete_project(project.id)


@pytest.fixture(scope="module")
def image(cloud: RunningCloud) -> str:
    img = connect(cloud).image.create_image(name=unique("evt-img"), data=b"\0" * 1024,
                                            disk_format="raw", container_format="bare",
                                            visibility="public")
    return str(img.id)


@pytest.fixture
def streams() -> Iterator[list[SseStream]]:
    opened: list[SseStream] = []
    yield opened
    for s in opened:
        s.close()


def _open(streams: list[SseStream], url: str, token: str | None, **headers: str
          ) -> SseStream:
    s = SseStream(url, token, **headers)
    streams.append(s)
    assert s.response.status_code == 200, s.response.text
    assert s.response.headers["content-type"].startswith("text/event-stream")
    return s


def _latency(got: Received) -> float:
    committed = dt.datetime.fromisoformat(got.data["timestamp"].replace("Z", "+00:00"))
    return got.at - committed.timestamp()


def _boot(cloud: RunningCloud, token: str, image: str) -> tuple[str, str]:
    r = httpx.post(f"{cloud.base_url}/compute/v2.1/servers",
                   headers={"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.79"},
                   json={"server": {"name": unique("evt-vm"), "imageRef": image,
                                    "flavorRef": "42", "networks": "none"}}, timeout=30)
    assert r.status_code == 202, r.text
    return r.json()["server"]["id"], r.headers["x-openstack-request-id"]


def test_build_to_active_reaches_its_project_only(cloud: RunningCloud, image: str,
                                                  outsider: str,
                                                  streams: list[SseStream]) -> None:
    demo = cloud.token("demo")
    mine = _open(streams, _url(cloud, "type=server"), demo)
    theirs = _open(streams, _url(cloud), outsider)
    everyone = _open(streams, _url(cloud, "all_projects=1"), cloud.admin_token())
    started = time.time()
    server_id, request_id = _boot(cloud, demo, image)

    def about(got: Received) -> bool:
        return got.event == "message" and got.data["resource_id"] == server_id

    created = mine.until(about)
    assert created.data["action"] == "create" and created.data["type"] == "server"
    assert created.data["new_status"] == "BUILD" and created.data["request_id"] == request_id
    active = mine.until(lambda g: about(g) and g.data["new_status"] == "ACTIVE", timeout=20)
    assert active.data["old_status"] == "BUILD"
    assert active.data["project_id"] == created.data["project_id"]
    print(f"\nevent stream: BUILD->ACTIVE of {server_id} delivered "
          f"{_latency(active) * 1000:.1f} ms after its commit; "
          f"{(active.at - started):.2f} s after the create request was sent")
    assert everyone.until(lambda g: about(g) and g.data["new_status"] == "ACTIVE")
    # the outsider's stream works (its own network shows) and held nothing of demo's before
    r = httpx.post(f"{cloud.base_url}/networking/v2.0/networks",
                   headers={"X-Auth-Token": outsider}, json={"network": {"name": "evt"}})
    assert r.status_code == 201, r.text
    net_id = r.json()["network"]["id"]
    first = theirs.next()
    assert first is not None and first.data["resource_id"] == net_id, first
    assert first.data["type"] == "network" and first.data["action"] == "create"
    # resume: from the create event's id, what followed is replayed (ACTIVE included)
    resumed = _open(streams, _url(cloud, f"id={server_id}"), demo,
                    **{"Last-Event-ID": created.id or ""})
    replayed = resumed.until(lambda g: g.data.get("new_status") == "ACTIVE")
    assert replayed.id == active.id
    httpx.delete(f"{cloud.base_url}/networking/v2.0/networks/{net_id}",
                 headers={"X-Auth-Token": outsider})
    httpx.delete(f"{cloud.base_url}/compute/v2.1/servers/{server_id}",
                 headers={"X-Auth-Token": demo})
    gone = mine.until(lambda g: about(g) and g.data["action"] == "delete", timeout=20)
    assert gone.data["new_status"] == "DELETED"


@pytest.mark.sqlite_only  # no database work: the same on PostgreSQL
def test_an_unknown_last_event_id_asks_for_a_reset(cloud: RunningCloud,
                                                   streams: list[SseStream]) -> None:
    s = _open(streams, _url(cloud), cloud.token("demo"), **{"Last-Event-ID": "nope-12"})
    got = s.next()
    assert got is not None and got.event == "reset"


@pytest.mark.sqlite_only  # refused before any database work
@pytest.mark.parametrize(("who", "query", "status", "says"), [
    (None, "", 401, "requires authentication"),
    ("bad", "", 401, "requires authentication"),
    ("demo", "all_projects=1", 403, "operator:events:all_projects"),
    ("demo", "type=server,teapot", 400, "'type'"),
    ("demo", "all_projects=maybe", 400, "all_projects"),
])
def test_refused(cloud: RunningCloud, who: str | None, query: str, status: int,
                 says: str) -> None:
    token = {"demo": cloud.token("demo"), "bad": "gAAAAnotatoken"}.get(who or "")
    headers = {"X-Auth-Token": token} if token else {}
    r = httpx.get(_url(cloud, query), headers=headers)
    assert r.status_code == status
    assert says in r.json()["error"]["message"]


def test_another_api_process_hears_it_through_postgresql(cloud: RunningCloud,
                                                         image: str) -> None:
    if cloud.runtime.db.is_sqlite:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    demo = cloud.token("demo")

    async def listen() -> tuple[Any, float]:
        bus = EventBus(PgNotifyTransport(cloud.settings.database_url))
        await bus.start()
        sub, _ = bus.subscribe(Filter(None, frozenset({"network"})))
        try:
            r = await asyncio.to_thread(
                httpx.post, f"{cloud.base_url}/networking/v2.0/networks",
                headers={"X-Auth-Token": demo}, json={"network": {"name": "evt-pg"}})
            net_id = r.json()["network"]["id"]
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                ev = await sub.next(1.0)
                if ev is not None and ev.resource_id == net_id:
                    return ev, time.time()
            raise AssertionError("no NOTIFY reached the second bus")
        finally:
            await bus.stop()

    ev, at = asyncio.run(listen())
    assert ev.action == "create" and ev.type == "network"
    committed = dt.datetime.fromisoformat(ev.timestamp.replace("Z", "+00:00")).timestamp()
    print(f"\nLISTEN/NOTIFY: network create reached another bus {(at - committed) * 1000:.1f}"
          " ms after its commit")
    httpx.delete(f"{cloud.base_url}/networking/v2.0/networks/{ev.resource_id}",
                 headers={"X-Auth-Token": demo})


@pytest.mark.sqlite_only  # PostgreSQL's capture path: test_build_to_active_... (CI time)
def test_volume_and_load_balancer_transitions(cloud: RunningCloud,
                                              streams: list[SseStream]) -> None:
    demo = connect(cloud, "demo")
    s = _open(streams, _url(cloud, "type=volume,loadbalancer"), cloud.token("demo"))
    vol = demo.block_storage.create_volume(size=1, name=unique("evt-vol"))
    got = s.until(lambda g: g.data["resource_id"] == vol.id
                  and g.data["new_status"] == "available")
    assert got.data["old_status"] == "creating"
    net = demo.network.create_network(name=unique("evt-lb"))
    sub = demo.network.create_subnet(network_id=net.id, cidr="10.78.0.0/24", ip_version=4)
    lb = demo.load_balancer.create_load_balancer(name=unique("evt-lb"), vip_subnet_id=sub.id)
    made = s.until(lambda g: g.data["resource_id"] == lb.id)
    assert made.data["action"] == "create"
    assert made.data["new_status"].startswith("PENDING_CREATE/")
    active = s.until(lambda g: g.data["resource_id"] == lb.id
                     and g.data["new_status"].startswith("ACTIVE/"), timeout=20)
    print(f"\nevent stream: volume {got.data['old_status']} -> {got.data['new_status']}, "
          f"load balancer {made.data['new_status']} -> {active.data['new_status']}")
    demo.load_balancer.delete_load_balancer(lb.id, cascade=True)
    demo.block_storage.delete_volume(vol.id)
    s.until(lambda g: g.data["resource_id"] == lb.id and g.data["action"] == "delete",
            timeout=20)
    demo.network.delete_network(net.id)  # its subnet with it


@pytest.mark.sqlite_only  # the token check is the identity cache's, the same on PostgreSQL
def test_a_revoked_token_ends_the_stream(cloud: RunningCloud, streams: list[SseStream],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(operator_events, "KEEPALIVE", 0.2)  # the server runs in this process
    token = cloud.token("demo")
    s = _open(streams, _url(cloud), token)
    r = httpx.delete(f"{cloud.auth_url}/auth/tokens",
                     headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert r.status_code == 204, r.text
    got = s.until(lambda g: g.event == "expired", timeout=5)
    assert "no longer valid" in got.data["message"]
    assert s.next(5) is None  # and the stream ends
