"""Host device discovery: which PCI devices (GPUs above all) this host has, and whether a
guest can be given one (PCI passthrough through VFIO).

The contract:
- ``discover()`` reads the host and returns what it finds, GPUs as ``Gpu``; it never changes
  the host, and it never raises for a device it cannot fully read (fields stay unknown).
- A device can be passed through when it is in an IOMMU group (``iommu_group`` is set);
  binding it to ``vfio-pci`` is the operator's step (see docs/accelerators.md).
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass

# PCI class codes (base class 0x03, display controllers): VGA-compatible and 3D controllers.
GPU_CLASS_PREFIXES = ("0300", "0302")
VENDORS = {"10de": "nvidia", "1002": "amd", "8086": "intel"}
ADDRESS = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")


def is_gpu_class(class_code: str) -> bool:
    return class_code[:4] in GPU_CLASS_PREFIXES


def normalise_address(bus_id: str) -> str:
    """A PCI address as sysfs names it (``0000:1b:00.0``), from NVML's or nvidia-smi's
    ``00000000:1B:00.0``; raises ValueError for anything else."""
    text = bus_id.strip().lower()
    domain, sep, rest = text.rpartition(":")
    domain, _sep, bus = domain.rpartition(":")
    if not sep or not domain:
        raise ValueError(f"not a PCI address: {bus_id!r}")
    out = f"{int(domain, 16):04x}:{bus}:{rest}"
    if not ADDRESS.match(out):
        raise ValueError(f"not a PCI address: {bus_id!r}")
    return out


@dataclass
class PciDevice:
    address: str  # domain:bus:device.function, e.g. 0000:17:00.0
    vendor_id: str  # four lower-case hex digits, e.g. 10de
    product_id: str  # e.g. 2335
    class_code: str  # six hex digits, e.g. 030200
    name: str = ""  # from pci.ids when the host has it
    iommu_group: int | None = None  # None: no IOMMU (or not enabled): no passthrough
    driver: str | None = None  # the bound kernel driver: nvidia, vfio-pci, amdgpu, ...
    numa_node: int | None = None

    @property
    def vendor(self) -> str:
        return VENDORS.get(self.vendor_id, self.vendor_id)

    @property
    def passthrough_capable(self) -> bool:
        return self.iommu_group is not None


@dataclass
class Gpu(PciDevice):
    model: str = ""  # e.g. "NVIDIA H200" (from NVML / nvidia-smi), else the pci.ids name
    memory_mib: int | None = None
    uuid: str | None = None  # GPU-... (NVIDIA, while the nvidia driver owns it)


@dataclass
class GpuDetails:
    """What a vendor tool adds to a GPU that sysfs alone does not say."""

    model: str = ""
    memory_mib: int | None = None
    uuid: str | None = None


class DeviceDiscovery(abc.ABC):
    name: str = "base"

    @abc.abstractmethod
    def discover(self) -> list[PciDevice]:
        """The host's devices of interest (GPUs as ``Gpu``), sorted by address."""


def gpus(devices: list[PciDevice]) -> list[Gpu]:
    return [d for d in devices if isinstance(d, Gpu)]
