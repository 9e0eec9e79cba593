"""Hypervisor drivers, chosen by name from ``DRIVERS``."""

from onestack.drivers.virt.base import VirtDriver
from onestack.drivers.virt.fake import FakeVirtDriver

DRIVERS: dict[str, type[VirtDriver]] = {"fake": FakeVirtDriver}

__all__ = ["DRIVERS", "FakeVirtDriver", "VirtDriver"]
