"""A console of a guest on a remote host: its agent (HttpLink in this process, fake
hypervisor) is asked for it with its work poll and brings it over a websocket of its own,
with its host credential; the client's websocket is bridged to it. A guest without that
console is refused with the agent's reason; nobody without the host's credential can pose
as the agent. (One database: the path does not depend on it.)"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from onestack.agent.compute import ComputeAgent
from onestack.agent.http_link import HttpLink
from onestack.core.compute.agent_credentials import AgentCredentials
from onestack.db.engine import Database
from onestack.drivers.virt.fake import FakeVirtDriver
from tests.api.test_remote_consoles import echo_console, refused, remote, token_of, ws_url
from tests.support.server import CloudThread, RunningCloud

HOST = "console-remote-1"


class RemoteAgent:
    """A compute agent over HTTP in a thread of its own (its own event loop)."""

    def __init__(self, cloud: RunningCloud, instances: Path) -> None:
        self.cloud, self.instances = cloud, instances
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.link: HttpLink | None = None
        self.agent: ComputeAgent | None = None

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    async def _start(self) -> None:
        db = Database(self.cloud.settings.database_url)
        try:
            secret = await AgentCredentials(db).create(HOST)
        finally:
            await db.close()
        self.link = HttpLink(self.cloud.base_url, secret)
        self.agent = ComputeAgent(self.link, FakeVirtDriver(hostname=HOST), self.instances,
                                  0.5)
        await self.agent.start()

    def start(self) -> None:
        self.thread.start()
        self.run(self._start())

    def stop(self) -> None:
        if self.agent is not None:
            self.run(self.agent.stop())
        if self.link is not None:
            self.run(self.link.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def remote_server(tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[tuple[RunningCloud, str, Path]]:
    thread = CloudThread()
    thread.settings.compute.local_agent = False  # compute hosts run their own agents
    cloud = thread.start()
    instances = tmp_path_factory.mktemp("remote-instances")
    agent = RemoteAgent(cloud, instances)
    try:
        agent.start()
        headers = {"X-Auth-Token": cloud.admin_token()}
        image = httpx.post(f"{cloud.base_url}/image/v2/images", headers=headers, json={
            "name": "remote-console", "disk_format": "raw",
            "container_format": "bare"}).json()
        httpx.put(f"{cloud.base_url}/image/v2/images/{image['id']}/file", content=b"\0" * 512,
                  headers={**headers, "Content-Type": "application/octet-stream"})
        api = f"{cloud.base_url}/compute/v2.1/servers"
        made = httpx.post(api, headers={**headers, "OpenStack-API-Version": "compute 2.37"},
                          json={"server": {
            "name": "remote-console", "imageRef": image["id"], "flavorRef": "42",
            "networks": "none"}})
        assert made.status_code == 202, made.text
        server = made.json()["server"]
        deadline = time.monotonic() + 30
        while (got := httpx.get(f"{api}/{server['id']}", headers=headers).json()["server"]
               )["status"] != "ACTIVE":
            assert time.monotonic() < deadline, got
            time.sleep(0.1)
        assert got["OS-EXT-SRV-ATTR:host"] == HOST
        yield cloud, server["id"], instances
    finally:
        agent.stop()
        thread.stop()


def test_a_remote_agent_carries_the_console(remote_server: tuple[RunningCloud, str, Path]
                                            ) -> None:
    cloud, server_id, instances = remote_server
    with echo_console(instances, server_id, "serial") as got:
        url = remote(cloud, server_id, "serial", "serial", who="admin").json()[
            "remote_console"]["url"]
        with ws_connect(url, open_timeout=10) as ws:
            assert ws.recv(timeout=20) == b"login: "
            ws.send(b"uname\r")
            assert ws.recv(timeout=10) == b"echo:uname\r"
    assert got == [b"uname\r"]
    # no VNC console there: the agent's reason comes back
    url = remote(cloud, server_id, "vnc", "novnc", who="admin").json()["remote_console"]["url"]
    code, reason = refused(ws_url(cloud, "vnc"), token_of(url))
    assert code == 4409 and HOST in reason and "no vnc console" in reason
    # nobody else brings a console: no credential, a wrong one, no ask waiting
    for headers in ({}, {"Authorization": "Bearer not-a-credential"}):
        with pytest.raises(InvalidStatus):
            ws_connect(ws_url(cloud, "agent/0123"), additional_headers=headers)
