"""Discovery from ``/sys/bus/pci/devices``: every PCI function the kernel knows, with its
vendor, product and class, IOMMU group, bound driver and NUMA node.

``root`` is the file system root to read under (``/`` on a host; a recorded tree in tests).
NVIDIA GPUs are enriched with model, memory and UUID from NVML or nvidia-smi when those are
there (``enrich``); without them, or for GPUs bound to vfio-pci (which the nvidia driver no
longer sees), sysfs and pci.ids alone describe the device.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from onestack.drivers.devices.base import (
    DeviceDiscovery,
    Gpu,
    GpuDetails,
    PciDevice,
    is_gpu_class,
)
from onestack.drivers.devices.nvidia import nvidia_details

log = logging.getLogger(__name__)
PCI_DEVICES = "sys/bus/pci/devices"
PCI_IDS = ("usr/share/misc/pci.ids", "usr/share/hwdata/pci.ids", "usr/share/pci.ids")
Enricher = Callable[[], dict[str, GpuDetails]]  # PCI address -> details


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _hex(path: Path, digits: int) -> str | None:
    text = _read(path)
    if not text:
        return None
    try:
        return f"{int(text, 16):0{digits}x}"
    except ValueError:
        return None


def _link_name(path: Path) -> str | None:
    """The last component of a symlink's target (it need not exist: a recorded tree)."""
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return None


def pci_names(root: Path, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Device names from pci.ids for (vendor, product) pairs: "GH100 [H200 SXM 141GB]"."""
    out: dict[tuple[str, str], str] = {}
    vendors = {v for v, _p in wanted}
    for rel in PCI_IDS:
        path = root / rel
        if not path.is_file():
            continue
        vendor: str | None = None
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.strip() or line.startswith("#"):
                    continue
                if line.startswith("C "):  # the device class list follows the vendors
                    break
                if not line.startswith("\t"):
                    vendor = line[:4].lower() if line[:4].lower() in vendors else None
                elif vendor is not None and not line.startswith("\t\t"):
                    key = (vendor, line[1:5].lower())
                    if key in wanted:
                        out[key] = line[5:].strip()
        return out
    return out


class SysfsDiscovery(DeviceDiscovery):
    name = "sysfs"

    def __init__(self, root: str | os.PathLike[str] = "/", enrich: Enricher | None = None,
                 all_devices: bool = False) -> None:
        self.root = Path(root)
        # NVML / nvidia-smi only on the real host: a recorded tree brings its own (or none).
        self.enrich = enrich if enrich is not None or str(root) != "/" else nvidia_details
        self.all_devices = all_devices  # else display controllers (GPUs) only

    def discover(self) -> list[PciDevice]:
        base = self.root / PCI_DEVICES
        try:
            entries = sorted(os.listdir(base))
        except OSError:
            return []  # no sysfs (a container, another OS): nothing to offer
        found: list[PciDevice] = []
        for address in entries:
            dev = self.read_device(base / address, address)
            if dev is not None and (self.all_devices or isinstance(dev, Gpu)):
                found.append(dev)
        names = pci_names(self.root, {(d.vendor_id, d.product_id) for d in found})
        for dev in found:
            dev.name = names.get((dev.vendor_id, dev.product_id), "")
        details = self._details() if any(d.vendor == "nvidia" for d in found) else {}
        for dev in found:
            if isinstance(dev, Gpu):
                extra = details.get(dev.address)
                if extra is not None:
                    dev.model, dev.memory_mib, dev.uuid = (extra.model, extra.memory_mib,
                                                           extra.uuid)
                if not dev.model and dev.name:
                    # "GH100 [H200 SXM 141GB]": the marketing name in brackets
                    inner = dev.name.partition("[")[2].rstrip("]")
                    dev.model = inner or dev.name
        return found

    @staticmethod
    def read_device(path: Path, address: str) -> PciDevice | None:
        vendor, product = _hex(path / "vendor", 4), _hex(path / "device", 4)
        class_code = _hex(path / "class", 6)
        if vendor is None or product is None or class_code is None:
            return None
        group = _link_name(path / "iommu_group")
        numa = _read(path / "numa_node")
        cls = Gpu if is_gpu_class(class_code) else PciDevice
        return cls(
            address=address, vendor_id=vendor, product_id=product, class_code=class_code,
            iommu_group=int(group) if group is not None and group.isdigit() else None,
            driver=_link_name(path / "driver"),
            numa_node=int(numa) if numa and numa.isdigit() else None)  # -1: unknown

    def _details(self) -> dict[str, GpuDetails]:
        if self.enrich is None:
            return {}
        try:
            return self.enrich()
        except Exception as exc:  # enrichment is optional: sysfs alone still answers
            log.info("GPU details unavailable (%s); using sysfs alone", exc)
            return {}
