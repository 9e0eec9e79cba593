"""/metrics on a cloud with a real QEMU guest (TCG): the guest's CPU counter grows between two
scrapes, under its project and server labels, and its memory and disk reads are there."""

from __future__ import annotations

import time

import httpx
import pytest

from onestack.images.seed import TINY
from tests.api.conftest import connect
from tests.integration.test_compute_qemu import destroy_guests, seed, settle, start_cloud
from tests.support.prom import Exposition, parse
from tests.support.server import RunningCloud

pytestmark = [pytest.mark.integration]
CPU = "onestack_guest_cpu_seconds_total"


def scrape(cloud: RunningCloud, token: str) -> Exposition:
    r = httpx.get(f"{cloud.base_url}/metrics", headers={"X-Auth-Token": token})
    assert r.status_code == 200, r.text
    return parse(r.text)


def test_guest_cpu_counter_grows() -> None:
    thread, cloud = start_cloud()
    try:
        seed(cloud)
        conn = connect(cloud, "demo")
        image = conn.image.find_image(TINY)
        server = conn.compute.create_server(name="metered", image_id=image.id, flavor_id="1",
                                            networks="none")
        settle(conn, server.id, "ACTIVE")
        admin = cloud.admin_token()
        labels = {"server_id": server.id, "project_id": cloud.accounts["demo"].project_id,
                  "server_name": "metered"}
        first = scrape(cloud, admin)
        assert first.series(CPU) == [labels]
        time.sleep(2)  # the guest is booting: its vCPU thread runs
        second = scrape(cloud, admin)
        assert second.value(CPU, **labels) > first.value(CPU, **labels) > 0
        assert second.value("onestack_guest_memory_rss_bytes", **labels) > 16 * 2**20
        # the boot read its disk (QMP query-blockstats)
        assert second.value("onestack_guest_disk_read_bytes_total", **labels) > 0
        assert second.value("onestack_guest_disk_read_operations_total", **labels) > 0
        assert second.value("onestack_resources", kind="servers", status="active") >= 1
        conn.compute.delete_server(server.id)
        conn.compute.wait_for_delete(conn.compute.get_server(server.id), wait=60)
        assert scrape(cloud, admin).series(CPU) == []
    finally:
        destroy_guests(cloud.settings.instances_path)
        thread.stop()
