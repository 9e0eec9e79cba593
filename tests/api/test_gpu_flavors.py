"""GPU flavors end to end, with openstacksdk on the fake hypervisor and fake device discovery
(one H200-like GPU on host compute-test) plus a second host without GPUs: a PGPU flavor lands
on the GPU host and gets its PCI address; too many GPUs is Nova's NoValidHost fault, with a
reason per host; a forbidden GPU trait keeps a server off the GPU host."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import openstack
import pytest

from onestack.drivers.virt.base import HostInfo
from tests.api.conftest import connect, unique
from tests.api.test_compute import wait
from tests.support.server import CloudThread, RunningCloud

T = TypeVar("T")
PLAIN = "compute-plain"


class GpuCloud(CloudThread):
    def __init__(self) -> None:
        super().__init__()
        self.settings.compute.device_discovery = "fake"
        self.loop: asyncio.AbstractEventLoop | None = None

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        await super()._serve()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)


@pytest.fixture(scope="module")
def gpu_cloud() -> Iterator[tuple[GpuCloud, RunningCloud]]:
    thread = GpuCloud()
    running = thread.start()
    yield thread, running
    thread.stop()


@pytest.fixture
def conn(gpu_cloud: tuple[GpuCloud, RunningCloud]) -> openstack.connection.Connection:
    thread, running = gpu_cloud
    # a second compute host, without GPUs (registered, heartbeating, no agent)
    thread.call(running.runtime.compute.hosts.register(
        HostInfo(PLAIN, 8, 16384, 200, "QEMU", 7002000, "fake")))
    return connect(running)


@pytest.fixture
def image(conn: openstack.connection.Connection) -> str:
    img = conn.image.create_image(name=unique("img"), data=b"\0" * 4096,
                                  disk_format="raw", container_format="bare",
                                  visibility="public")
    return str(img.id)


def gpu_flavor(conn: openstack.connection.Connection, **specs: str) -> str:
    flavor = conn.compute.create_flavor(name=unique("gpu"), ram=512, vcpus=1, disk=1)
    conn.compute.create_flavor_extra_specs(flavor, specs)
    return str(flavor.id)


def test_host_reports_pgpu_and_gpu_traits(conn: openstack.connection.Connection) -> None:
    rp = next(p for p in conn.placement.resource_providers() if p.name == "compute-test")
    r = conn.session.get(f"/resource_providers/{rp.id}/inventories",
                         endpoint_filter={"service_type": "placement"})
    assert r.json()["inventories"]["PGPU"]["total"] == 1
    r = conn.session.get(f"/resource_providers/{rp.id}/traits",
                         endpoint_filter={"service_type": "placement"},
                         headers={"OpenStack-API-Version": "placement 1.6"})
    assert {"CUSTOM_GPU_NVIDIA", "CUSTOM_GPU_NVIDIA_H200"} <= set(r.json()["traits"])


def test_gpu_flavor_lands_on_the_gpu_host_with_its_device(
        gpu_cloud: tuple[GpuCloud, RunningCloud], conn: openstack.connection.Connection,
        image: str) -> None:
    thread, running = gpu_cloud
    flavor = gpu_flavor(conn, **{"resources:PGPU": "1",
                                 "trait:CUSTOM_GPU_NVIDIA_H200": "required"})
    server = conn.compute.create_server(name=unique("gpu"), image_id=image, flavor_id=flavor,
                                        networks="none")
    server = wait(conn, server.id, "ACTIVE")
    assert server.compute_host == "compute-test"
    assert thread.call(running.runtime.compute.devices.assigned(server.id)) == ["0000:17:00.0"]
    guest = thread.virt_driver.guests[server.id]
    assert guest.spec.pci_devices == ["0000:17:00.0"]
    # the one GPU is taken: a second GPU server finds no host, and says why per host
    second = conn.compute.create_server(name=unique("gpu"), image_id=image, flavor_id=flavor,
                                        networks="none")
    second = wait(conn, second.id, "ERROR")
    message = second.fault["message"]
    assert "No valid host" in message and "PGPU" in message
    assert f"{PLAIN}: no PGPU inventory" in second.fault["details"]
    conn.compute.delete_server(second.id)
    conn.compute.delete_server(server.id)
    conn.compute.wait_for_delete(server, wait=10)
    assert thread.call(running.runtime.compute.devices.assigned(server.id)) == []


def test_two_gpus_on_a_one_gpu_cloud_is_no_valid_host(
        conn: openstack.connection.Connection, image: str) -> None:
    flavor = gpu_flavor(conn, **{"resources:PGPU": "2"})
    server = conn.compute.create_server(name=unique("gpu2"), image_id=image, flavor_id=flavor,
                                        networks="none")
    server = wait(conn, server.id, "ERROR")
    assert server.fault["code"] == 500
    details = server.fault["details"]
    assert "No valid host was found" in details
    assert "compute-test: PGPU:" in details and f"{PLAIN}: no PGPU inventory" in details
    conn.compute.delete_server(server.id)


def test_forbidden_gpu_trait_keeps_off_the_gpu_host(conn: openstack.connection.Connection,
                                                    image: str) -> None:
    flavor = gpu_flavor(conn, **{"trait:CUSTOM_GPU_NVIDIA": "forbidden"})
    server = conn.compute.create_server(name=unique("nogpu"), image_id=image,
                                        flavor_id=flavor, networks="none")
    server = conn.compute.get_server(server.id)
    assert server.compute_host == PLAIN


def test_unreadable_gpu_extra_specs_are_a_400(conn: openstack.connection.Connection,
                                              image: str) -> None:
    flavor = gpu_flavor(conn, **{"resources:PGPU": "lots"})
    with pytest.raises(openstack.exceptions.BadRequestException, match="resources:PGPU"):
        conn.compute.create_server(name=unique("bad"), image_id=image, flavor_id=flavor,
                                   networks="none")
