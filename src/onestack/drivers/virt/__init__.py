"""Hypervisor drivers, chosen by name from ``DRIVERS``."""

from onestack.drivers.virt.base import VirtDriver
from onestack.drivers.virt.fake import FakeVirtDriver
from onestack.drivers.virt.qemu import QemuDriver

DRIVERS: dict[str, type[VirtDriver]] = {"fake": FakeVirtDriver, "qemu": QemuDriver}

__all__ = ["DRIVERS", "FakeVirtDriver", "QemuDriver", "VirtDriver"]
