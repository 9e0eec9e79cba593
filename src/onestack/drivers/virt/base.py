"""The virt driver contract: what the compute agent asks of a hypervisor.

Rules every implementation keeps (a contract test runs them against the fake and QEMU):
- ``spawn`` either leaves a running guest or cleans up everything it made, then raises.
- ``destroy`` is idempotent: destroying a guest that does not exist is not an error; it stops
  the process and removes the instance directory.
- Guests outlive the process that started them; ``list_guests`` finds them again after a
  restart (adoption), and ``get_info`` reports a guest that died as SHUTDOWN/CRASHED.
- Every call is bounded in time (``timeout`` arguments) and raises ``VirtError`` with a message
  an operator can act on.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class PowerState(enum.IntEnum):
    """Nova's power_state values, as the API shows them (OS-EXT-STS:power_state)."""

    NOSTATE = 0
    RUNNING = 1
    PAUSED = 3
    SHUTDOWN = 4
    CRASHED = 6
    SUSPENDED = 7


class VirtError(Exception):
    pass


class GuestNotFound(VirtError):
    pass


@dataclass
class RbdSource:
    """A volume QEMU opens with its rbd driver (librbd), from Cinder's rbd connection info:
    no file on this host. The key is read from ``keyring`` when QEMU opens the disk and goes
    to QEMU as a ``secret`` object over QMP; it is never part of a spec."""

    name: str  # pool/image
    hosts: list[str] = field(default_factory=list)  # monitors
    ports: list[str] = field(default_factory=list)
    user: str = "admin"  # this compute host's cephx user
    keyring: str = ""  # that user's keyring on this host (root only)
    conf: str = ""  # a ceph.conf for librados' other settings; empty: none


@dataclass
class DiskSpec:
    path: Path  # for an rbd disk, a name only (``rbd`` says where it is)
    format: str = "qcow2"  # qcow2 | raw
    kind: str = "root"  # root | ephemeral | swap | config | volume
    bus: str = "virtio"  # virtio | ide | scsi
    readonly: bool = False
    serial: str | None = None  # shows as /dev/disk/by-id/virtio-<serial> in the guest
    device: str | None = None  # e.g. vdb, for volumes
    rbd: RbdSource | None = None  # a volume in a Ceph pool, opened by QEMU itself
    # format "luks": an encrypted volume (a LUKS container QEMU opens with its luks driver);
    # its passphrase, handed to QEMU over QMP, kept in memory only (never in guest.json)
    key: str = field(default="", repr=False)


@dataclass
class NicSpec:
    mac: str
    tap: str | None = None  # host tap device (created by the network agent); None: user-mode
    mtu: int = 1500
    port_id: str | None = None
    # user-mode networking only (no CAP_NET_ADMIN): forward this host port to the guest's SSH
    ssh_forward_port: int | None = None


@dataclass
class GuestSpec:
    uuid: str
    name: str
    vcpus: int
    memory_mb: int
    instance_dir: Path  # everything the guest owns lives here
    disks: list[DiskSpec] = field(default_factory=list)
    nics: list[NicSpec] = field(default_factory=list)
    # SMBIOS fields the guest can read (cloud-init uses system-serial-number = uuid)
    smbios: dict[str, str] = field(default_factory=dict)
    # Host PCI devices (GPUs) passed through with VFIO, by address (0000:17:00.0); each must
    # be bound to vfio-pci on the host.
    pci_devices: list[str] = field(default_factory=list)


@dataclass
class GuestInfo:
    uuid: str
    power_state: PowerState
    pid: int | None = None
    vcpus: int = 0
    memory_mb: int = 0


@dataclass
class HostInfo:
    hostname: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    hypervisor_type: str  # QEMU
    hypervisor_version: int  # e.g. 7002000 for 7.2.0
    accelerator: str  # kvm | tcg | fake
    cpu_info: dict[str, object] = field(default_factory=dict)


class VirtDriver(abc.ABC):
    name: str = "base"
    # What this driver can do; the API refuses what is missing with a clear 400/409.
    capabilities: dict[str, bool] = {
        "pause": True, "suspend": True, "snapshot": True, "console_log": True,
        "volume_attach": False, "interface_attach": False, "resize": True,
        # Guests boot from files in the instance dir the agent makes from images.
        "local_disks": False,
        # prepare_incoming / live_migrate / finish_incoming
        "live_migration": False,
    }

    def unavailable(self) -> str | None:
        """Why guests cannot run on this host with this driver (what is missing and the
        command that installs it), or None when they can."""
        return None

    @abc.abstractmethod
    async def host_info(self) -> HostInfo: ...

    @abc.abstractmethod
    async def list_guests(self) -> list[GuestInfo]:
        """Every guest this driver manages on this host, running or not."""

    @abc.abstractmethod
    async def get_info(self, uuid: str) -> GuestInfo:
        """Raises GuestNotFound."""

    @abc.abstractmethod
    async def spawn(self, spec: GuestSpec) -> GuestInfo: ...

    @abc.abstractmethod
    async def destroy(self, uuid: str, instance_dir: Path | None = None) -> None: ...

    @abc.abstractmethod
    async def power_off(self, uuid: str, timeout: float = 60.0) -> None:
        """ACPI shutdown, then a hard stop when the guest has not stopped after ``timeout``."""

    @abc.abstractmethod
    async def power_on(self, spec: GuestSpec) -> GuestInfo: ...

    @abc.abstractmethod
    async def reboot(self, uuid: str, hard: bool, spec: GuestSpec | None = None) -> None: ...

    @abc.abstractmethod
    async def pause(self, uuid: str) -> None: ...

    @abc.abstractmethod
    async def unpause(self, uuid: str) -> None: ...

    @abc.abstractmethod
    async def suspend(self, uuid: str) -> None:
        """Save the guest's state to a file in its instance dir and stop it."""

    @abc.abstractmethod
    async def resume(self, spec: GuestSpec) -> GuestInfo: ...

    @abc.abstractmethod
    async def console_output(self, uuid: str, instance_dir: Path,
                             length: int | None = None) -> str:
        """The serial console log; the last ``length`` lines when given."""

    async def attach_volume(self, uuid: str, disk: DiskSpec) -> None:
        """Hotplug ``disk`` (kind volume, ``serial`` set) into the running guest."""
        raise VirtError(f"the {self.name} driver cannot attach volumes to running guests")

    async def detach_volume(self, uuid: str, disk: DiskSpec, timeout: float = 60.0) -> None:
        """Unplug the volume disk (the guest must let go of it within ``timeout``)."""
        raise VirtError(f"the {self.name} driver cannot detach volumes from running guests")

    async def extend_volume(self, uuid: str, disk: DiskSpec, size_bytes: int) -> None:
        """Tell the running guest its attached volume grew (and grow it: block_resize)."""
        raise VirtError(f"the {self.name} driver cannot extend attached volumes")

    async def prepare_incoming(self, spec: GuestSpec, address: str) -> dict[str, Any]:
        """A live migration's target: start ``spec`` paused, waiting for the source's
        stream on ``address`` (this host's address the source reaches). The answer is what
        the source's ``live_migrate`` is given (JSON: it travels through the controller)."""
        raise VirtError(f"the {self.name} driver cannot live-migrate guests")

    async def live_migrate(self, uuid: str, dest: dict[str, Any], timeout: float) -> None:
        """A live migration's source: copy the guest's writable disks and its state to
        ``dest`` while it runs. Done, the guest is stopped here (``destroy`` removes its
        files); failed, it runs on here and VirtError says why."""
        raise VirtError(f"the {self.name} driver cannot live-migrate guests")

    async def finish_incoming(self, uuid: str, run: bool, timeout: float = 60.0) -> None:
        """The target, once the source is done: the guest runs (stays paused unless
        ``run``)."""
        raise VirtError(f"the {self.name} driver cannot live-migrate guests")

    @abc.abstractmethod
    async def snapshot(self, uuid: str, instance_dir: Path, dest: Path) -> None:
        """Write a standalone qcow2 of the root disk (consistent: paused or stopped)."""
