"""Devices from a list: for tests and for scale runs with GPU hosts that have no GPUs."""

from __future__ import annotations

import copy
import uuid

from onestack.drivers.devices.base import DeviceDiscovery, Gpu, PciDevice


def fake_h200(address: str = "0000:17:00.0", iommu_group: int | None = 17) -> Gpu:
    """An H200-like NVIDIA GPU, passthrough-capable unless ``iommu_group`` is None."""
    return Gpu(address=address, vendor_id="10de", product_id="2335", class_code="030200",
               name="GH100 [H200 SXM 141GB]", iommu_group=iommu_group, driver="vfio-pci",
               numa_node=0, model="NVIDIA H200", memory_mib=143771,
               uuid=f"GPU-{uuid.uuid5(uuid.NAMESPACE_URL, 'fake-gpu/' + address)}")


class FakeDiscovery(DeviceDiscovery):
    name = "fake"

    def __init__(self, devices: list[PciDevice] | None = None) -> None:
        self.devices = [fake_h200()] if devices is None else list(devices)

    def discover(self) -> list[PciDevice]:
        return sorted((copy.deepcopy(d) for d in self.devices), key=lambda d: d.address)
