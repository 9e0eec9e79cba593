"""Host device discovery (GPUs for PCI passthrough), chosen by name from ``DRIVERS``."""

from __future__ import annotations

from onestack.drivers.devices.base import DeviceDiscovery, Gpu, GpuDetails, PciDevice
from onestack.drivers.devices.fake import FakeDiscovery
from onestack.drivers.devices.sysfs import SysfsDiscovery
from onestack.errors import ConfigError

DRIVERS: dict[str, type[DeviceDiscovery]] = {"fake": FakeDiscovery, "sysfs": SysfsDiscovery}


def make_discovery(name: str, virt_driver: str) -> DeviceDiscovery | None:
    """``[compute] device_discovery``: sysfs, fake, off, or auto (sysfs beside the real
    hypervisor, off beside the fake one, so simulated hosts never report the machine's
    devices)."""
    if name == "auto":
        name = "sysfs" if virt_driver != "fake" else "off"
    if name == "off":
        return None
    cls = DRIVERS.get(name)
    if cls is None:
        raise ConfigError(f"[compute] device_discovery = {name!r} is unknown; known: auto, "
                          f"off, {', '.join(sorted(DRIVERS))}")
    return cls()


__all__ = ["DRIVERS", "DeviceDiscovery", "FakeDiscovery", "Gpu", "GpuDetails", "PciDevice",
           "SysfsDiscovery", "make_discovery"]
