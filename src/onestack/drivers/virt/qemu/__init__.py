"""The QEMU virt driver: QEMU processes driven over QMP, no libvirt (docs/virt-qemu.md)."""

from onestack.drivers.virt.qemu.driver import QemuDriver

__all__ = ["QemuDriver"]
