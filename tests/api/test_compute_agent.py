"""The compute agent's reconcile loop: a guest that dies is healed to SHUTOFF within a
period, and a restarted cloud adopts the guests that kept running."""

from __future__ import annotations

import time
from typing import Any

import openstack

from onestack.drivers.virt.fake import FakeVirtDriver
from tests.api.conftest import connect, unique
from tests.api.test_compute import wait
from tests.support.server import CloudThread, RunningCloud


def _image(conn: openstack.connection.Connection) -> str:
    img = conn.image.create_image(name=unique("img"), data=b"\0" * 1024, disk_format="raw",
                                  container_format="bare")
    return str(img.id)


def test_dead_guest_becomes_shutoff(cloud: RunningCloud) -> None:
    conn = connect(cloud)
    s = conn.compute.create_server(name=unique("vm"), image_id=_image(conn), flavor_id="42",
                                   networks="none")
    wait(conn, s.id, "ACTIVE")
    driver = cloud.runtime.compute_agent.driver
    assert isinstance(driver, FakeVirtDriver)
    driver.crash(s.id)
    started = time.monotonic()
    healed = wait(conn, s.id, "SHUTOFF", timeout=5)
    assert healed.power_state == 4
    assert time.monotonic() - started < 2 * cloud.settings.compute.reconcile_interval + 1
    conn.compute.delete_server(s.id)


def _stop_keeping_data(thread: CloudThread) -> None:
    assert thread._server is not None and thread._thread is not None
    thread._server.should_exit = True
    thread._thread.join(timeout=15)


def test_restart_adopts_running_guests() -> None:
    driver = FakeVirtDriver(hostname="adopt-host")
    first = CloudThread()
    first.virt_driver = driver
    cloud = first.start()
    second: CloudThread | None = None
    try:
        conn = connect(cloud)
        image = _image(conn)
        servers: list[Any] = []
        for _ in range(2):
            s = conn.compute.create_server(name=unique("vm"), image_id=image,
                                           flavor_id="42", networks="none")
            servers.append(wait(conn, s.id, "ACTIVE"))
        _stop_keeping_data(first)
        driver.crash(servers[1].id)  # dies while the cloud is down
        spawns = [c for c in driver.calls if c[0] == "spawn"]
        second = CloudThread()
        second.tmp.cleanup()
        second.tmp, second.settings, second.port = first.tmp, first.settings, first.port
        second.virt_driver = driver
        cloud2 = second.start()
        conn2 = connect(cloud2)
        assert conn2.compute.get_server(servers[0].id).status == "ACTIVE"
        assert wait(conn2, servers[1].id, "SHUTOFF", timeout=5).power_state == 4
        assert [c for c in driver.calls if c[0] == "spawn"] == spawns  # nothing respawned
        assert cloud2.runtime.compute_agent.driver is driver
    finally:
        if second is not None:
            second.stop()
        else:
            first.stop()
