"""GPUs in the compute model: inventory and traits from discovered devices, flavor extra
specs as a placement request, host registration, scheduling, and device assignment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from onestack.config import ComputeConfig
from onestack.core.compute.devices import (
    Devices,
    check_flavor_request,
    custom_trait,
    device_traits,
    flavor_resources,
    flavor_traits,
    gpu_inventory,
    gpus_wanted,
    matching,
)
from onestack.core.compute.hosts import Hosts
from onestack.db import migrate
from onestack.db.engine import Database
from onestack.db.models.compute import Instance
from onestack.drivers.devices.base import Gpu, PciDevice
from onestack.drivers.devices.fake import fake_h200
from onestack.drivers.virt.base import HostInfo
from onestack.errors import BadRequest, Conflict
from onestack.scheduler.errors import NoValidHost
from onestack.scheduler.hosts import HostRequest
from onestack.scheduler.service import Placement

NIC = PciDevice("0000:00:03.0", "8086", "10d3", "020000", iommu_group=3)
NO_IOMMU = fake_h200("0000:65:00.0", iommu_group=None)
H200_TRAITS = {"CUSTOM_GPU_NVIDIA", "CUSTOM_GPU_NVIDIA_2335", "CUSTOM_GPU_NVIDIA_H200"}


def flavor(**specs: str) -> dict[str, object]:
    return {"vcpus": 2, "memory_mb": 2048, "extra_specs": specs}


def test_custom_trait_names_follow_placement_rules() -> None:
    assert custom_trait("NVIDIA H200") == "CUSTOM_GPU_NVIDIA_H200"
    assert custom_trait("H200 SXM 141GB") == "CUSTOM_GPU_H200_SXM_141GB"
    assert custom_trait("Radeon Pro W7900 (Navi 31)") == "CUSTOM_GPU_RADEON_PRO_W7900_NAVI_31"
    assert len(custom_trait("x" * 400)) == 255


def test_inventory_counts_only_gpus_in_an_iommu_group() -> None:
    inv, traits = gpu_inventory([fake_h200(), NO_IOMMU, NIC])
    assert inv == {"PGPU": {"total": 1, "reserved": 0, "min_unit": 1, "max_unit": 1,
                            "step_size": 1, "allocation_ratio": 1.0}}
    assert traits == H200_TRAITS
    two, _t = gpu_inventory([fake_h200(), fake_h200("0000:18:00.0", 18)])
    assert two["PGPU"]["total"] == 2 and two["PGPU"]["max_unit"] == 2
    assert gpu_inventory([NO_IOMMU, NIC]) == ({}, set())


def test_unknown_vendor_and_model_from_pci_ids() -> None:
    gpu = Gpu("0000:03:00.0", "1a03", "2000", "030000", iommu_group=4, model="ASPEED")
    assert device_traits(gpu) == {"CUSTOM_GPU_VENDOR_1A03", "CUSTOM_GPU_VENDOR_1A03_2000",
                                  "CUSTOM_GPU_ASPEED"}


def test_flavor_extra_specs_as_a_placement_request() -> None:
    f = flavor(**{"resources:PGPU": "1", "resources:VCPU": "4", "resources:DISK_GB": "0",
                  "trait:CUSTOM_GPU_NVIDIA_H200": "required",
                  "trait:HW_CPU_X86_AVX2": "required", "trait:CUSTOM_GPU_AMD": "forbidden",
                  "hw:cpu_policy": "dedicated"})
    base = {"VCPU": 2, "MEMORY_MB": 2048, "DISK_GB": 10}
    assert flavor_resources(f, base) == {"VCPU": 4, "MEMORY_MB": 2048, "PGPU": 1}
    assert flavor_traits(f) == (["CUSTOM_GPU_NVIDIA_H200", "HW_CPU_X86_AVX2"],
                                ["CUSTOM_GPU_AMD"])
    assert gpus_wanted(f) == (1, {"CUSTOM_GPU_NVIDIA_H200"})
    grouped = flavor(**{"resources1:PGPU": "1", "resources2:PGPU": "1"})
    assert flavor_resources(grouped, {}) == {"PGPU": 2}
    assert gpus_wanted(flavor()) == (0, set())


@pytest.mark.parametrize("specs", [
    {"resources:PGPU": "one"}, {"resources:pgpu": "1"}, {"resources:PGPU": "-1"},
    {"trait:CUSTOM_GPU_NVIDIA": "preferred"}, {"trait:nvidia": "required"}])
def test_bad_extra_specs_are_refused(specs: dict[str, str]) -> None:
    with pytest.raises(BadRequest):
        check_flavor_request(flavor(**specs))


def test_matching_gpus_by_required_traits() -> None:
    amd = Gpu("0000:c1:00.0", "1002", "744c", "030000", iommu_group=40, model="RX 7900 XTX")
    found = [fake_h200(), amd, NO_IOMMU]
    assert matching(found, set()) == ["0000:17:00.0", "0000:c1:00.0"]
    assert matching(found, {"CUSTOM_GPU_NVIDIA_H200"}) == ["0000:17:00.0"]
    assert matching(found, {"CUSTOM_GPU_INTEL"}) == []


# --- with a database ----------------------------------------------------------------------
@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite:///{tmp_path}/compute.db"
    migrate.upgrade(url)
    database = Database(url)
    yield database
    await database.close()


def host(name: str) -> HostInfo:
    return HostInfo(name, 16, 65536, 500, "QEMU", 8002000, "kvm")


async def test_registration_publishes_pgpu_and_traits(db: Database) -> None:
    placement = Placement(db)
    hosts = Hosts(db, placement, ComputeConfig())
    node = await hosts.register(host("gpu-1"), devices=[fake_h200(), NO_IOMMU, NIC])
    _rp, invs = await placement.inventories.get_all(node.uuid)
    assert invs["PGPU"]["total"] == 1 and set(invs) == {"VCPU", "MEMORY_MB", "DISK_GB", "PGPU"}
    rp, traits = await placement.providers.traits(node.uuid)
    assert set(traits) == H200_TRAITS
    # an operator's trait stays; the GPU ones follow what the host has
    await placement.catalog.put_trait("CUSTOM_RACK_A")
    await placement.providers.set_traits(node.uuid, [*traits, "CUSTOM_RACK_A"], rp.generation)
    await hosts.register(host("gpu-1"), devices=[])
    _rp, invs = await placement.inventories.get_all(node.uuid)
    assert "PGPU" not in invs
    assert (await placement.providers.traits(node.uuid))[1] == ["CUSTOM_RACK_A"]


async def test_scheduling_a_gpu_request(db: Database) -> None:
    placement = Placement(db)
    hosts = Hosts(db, placement, ComputeConfig())
    await hosts.register(host("plain-1"))
    await hosts.register(host("gpu-1"), devices=[fake_h200()])
    picked = await placement.select_hosts(HostRequest(
        {"VCPU": 1, "PGPU": 1}, required_traits=["CUSTOM_GPU_NVIDIA_H200"]))
    assert [h.name for h in picked.hosts] == ["gpu-1"]
    away = await placement.select_hosts(HostRequest(
        {"VCPU": 1}, forbidden_traits=["CUSTOM_GPU_NVIDIA"]))
    assert [h.name for h in away.hosts] == ["plain-1"]
    with pytest.raises(NoValidHost) as err:
        await placement.select_hosts(HostRequest({"VCPU": 1, "PGPU": 2}))
    assert err.value.reasons["plain-1"] == "no PGPU inventory"
    assert "PGPU" in err.value.reasons["gpu-1"]
    assert "plain-1: no PGPU inventory" in err.value.message


async def add_instance(db: Database, uuid: str, host_: str, deleted: bool = False) -> None:
    async with db.write() as s:
        s.add(Instance(uuid=uuid, project_id="p", user_id="u", name=uuid, flavor_id="1",
                       flavor={}, vm_state="active", host=host_, deleted=deleted))


async def test_assignment_gives_each_device_once(db: Database) -> None:
    devices = Devices(db)
    gpus_ = ["0000:17:00.0", "0000:18:00.0"]
    for uuid in ("a", "b", "c"):
        await add_instance(db, uuid, "gpu-1")
    assert await devices.assign("a", "gpu-1", 1, gpus_) == ["0000:17:00.0"]
    assert await devices.assign("a", "gpu-1", 1, gpus_) == ["0000:17:00.0"]  # kept
    assert await devices.assign("b", "gpu-1", 1, gpus_) == ["0000:18:00.0"]
    with pytest.raises(Conflict, match="0 free matching GPU"):
        await devices.assign("c", "gpu-1", 1, gpus_)
    await devices.release("a")
    assert await devices.assign("c", "gpu-1", 1, gpus_) == ["0000:17:00.0"]
    assert await devices.assigned("c") == ["0000:17:00.0"]
    assert await devices.assign("c", "gpu-1", 0, gpus_) == []  # resized to no GPU
    assert await devices.assigned("c") == []


async def test_devices_of_deleted_instances_are_freed(db: Database) -> None:
    devices = Devices(db)
    await add_instance(db, "gone", "gpu-1")
    await add_instance(db, "new", "gpu-1")
    await devices.assign("gone", "gpu-1", 1, ["0000:17:00.0"])
    async with db.write() as s:
        row = await s.get(Instance, "gone")
        assert row is not None
        row.deleted = True
    assert await devices.assign("new", "gpu-1", 1, ["0000:17:00.0"]) == ["0000:17:00.0"]
