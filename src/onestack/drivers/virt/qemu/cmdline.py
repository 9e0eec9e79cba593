"""The QEMU command line for a guest, built from its spec: a pure function, no host access.

Also the files a guest owns in its instance directory, and the spec's JSON form (written
beside the guest so that a restarted driver can adopt it).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from onestack.drivers.virt.base import DiskSpec, GuestSpec, NicSpec, RbdSource, VirtError

# A unix socket path must fit in sockaddr_un.sun_path (108 bytes, NUL included).
MAX_SOCKET_PATH = 107
SMBIOS_TYPE1_KEYS = ("manufacturer", "product", "version", "serial", "uuid", "sku", "family")
DISK_FORMATS = ("qcow2", "raw")
DISK_BUSES = ("virtio", "ide", "scsi")
PCI_ADDRESS = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
# QEMU's seccomp filter: no obsolete system calls, no set*uid/set*gid, no fork or exec, no
# scheduler or CPU-affinity changes. A guest that escapes device emulation cannot start a
# program (a shell) from QEMU. Nothing here needs those: QEMU is started already detached
# (setsid, no -daemonize, whose fork the filter forbids), and a suspend's state goes through
# file descriptors the driver opens (fd: migration), not an ``exec:`` helper.
SANDBOX = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"


@dataclass(frozen=True)
class GuestFiles:
    """What the driver keeps in a guest's instance directory."""

    instance_dir: Path

    @property
    def spec(self) -> Path:
        return self.instance_dir / "guest.json"

    @property
    def pidfile(self) -> Path:
        return self.instance_dir / "qemu.pid"

    @property
    def qmp(self) -> Path:
        return self.instance_dir / "qmp.sock"

    @property
    def status_qmp(self) -> Path:
        """A second QMP monitor for status queries only: they never wait behind an action
        (a QEMU socket chardev serves one client at a time; a save holds one for seconds)."""
        return self.instance_dir / "qmp-status.sock"

    @property
    def console(self) -> Path:
        """The guest's newest console output, written by its console logger."""
        return self.instance_dir / "console.log"

    @property
    def console_rotated(self) -> Path:
        """The console output before ``console`` (the logger's one rotated file)."""
        return self.instance_dir / "console.log.0"

    @property
    def console_socket(self) -> Path:
        """The console logger's socket; the guest's serial port connects to it."""
        return self.instance_dir / "console.sock"

    @property
    def serial_socket(self) -> Path:
        """The console logger's interactive socket: one client at a time types into the
        guest's serial port and reads what it prints (the log goes on)."""
        return self.instance_dir / "serial.sock"

    @property
    def vnc_socket(self) -> Path:
        """QEMU's VNC server (the guest's screen); no TCP port, the file mode guards it."""
        return self.instance_dir / "vnc.sock"

    @property
    def logger_pidfile(self) -> Path:
        return self.instance_dir / "console-logger.pid"

    @property
    def migration_tls(self) -> Path:
        """A live migration's TLS key while it runs (a directory, root only)."""
        return self.instance_dir / "migration-tls"

    @property
    def log(self) -> Path:
        return self.instance_dir / "qemu.log"

    @property
    def state(self) -> Path:
        """The suspended guest's memory and device state (a migration stream)."""
        return self.instance_dir / "suspend.state"

    def owned(self) -> list[Path]:
        """Every file the driver may create (what a failed spawn removes)."""
        return [self.spec, self.pidfile, self.qmp, self.status_qmp, self.console,
                self.console_rotated, self.console_socket, self.serial_socket,
                self.vnc_socket, self.logger_pidfile, self.log,
                self.state, self.state.with_name(self.state.name + ".part")]


def volume_node(disk: DiskSpec) -> str:
    """A volume's QEMU node name, the same at boot and on hotplug (detach finds it)."""
    if not disk.serial:
        raise VirtError(f"volume disk {disk.path} has no serial")
    return "vol-" + "".join(c for c in disk.serial if c.isalnum() or c == "-")[:24]


def over_qmp(disk: DiskSpec) -> bool:
    """Added over QMP once QEMU runs, with a secret (rbd_disks.py): an rbd disk (its cephx
    key) and an encrypted volume (its LUKS passphrase); never on the command line."""
    return disk.rbd is not None or disk.format == "luks"


def opt(value: object) -> str:
    """A value inside a QEMU ``key=value,...`` option: commas are doubled."""
    return str(value).replace(",", ",,")


def accel_cpu(accel: str) -> str:
    return "host" if accel == "kvm" else "max"


def _disk_args(index: int, disk: DiskSpec, boot: bool, scsi_bus: str | None) -> list[str]:
    if over_qmp(disk):
        return []  # added over QMP with its key once QEMU runs (rbd_disks.py)
    if disk.format not in DISK_FORMATS:
        raise VirtError(f"disk {disk.path}: format {disk.format!r} is not one of {DISK_FORMATS}")
    if disk.bus not in DISK_BUSES:
        raise VirtError(f"disk {disk.path}: bus {disk.bus!r} is not one of {DISK_BUSES}")
    node = volume_node(disk) if disk.kind == "volume" and disk.serial else f"disk{index}"
    drive = f"file={opt(disk.path)},if=none,id={node},format={disk.format}"
    if disk.readonly:
        drive += ",readonly=on"
    else:
        # writable from the start, also while a live migration's target waits (its NBD
        # server exports the disk for writing then)
        drive += ",auto-read-only=off"
        if disk.format == "qcow2":
            drive += ",discard=unmap"
    cdrom = disk.readonly and disk.kind == "config"
    if disk.bus == "virtio":
        device = f"virtio-blk-pci,drive={node},id={node}-dev"
    elif disk.bus == "ide":
        # IDE hard disks cannot be read-only: a read-only IDE disk is a CD-ROM.
        kind = "ide-cd" if disk.readonly else "ide-hd"
        device = f"{kind},drive={node},id={node}-dev"
    else:
        kind = "scsi-cd" if cdrom else "scsi-hd"
        device = f"{kind},drive={node},id={node}-dev,bus={scsi_bus}.0"
    if disk.serial:
        device += f",serial={opt(disk.serial)}"
    if boot:
        device += ",bootindex=1"
    return ["-drive", drive, "-device", device]


def _nic_args(index: int, nic: NicSpec, accel: str) -> list[str]:
    net = f"net{index}"
    if nic.tap:
        netdev = f"tap,id={net},ifname={opt(nic.tap)},script=no,downscript=no"
        if accel == "kvm":
            netdev += ",vhost=on"
    else:
        netdev = f"user,id={net}"
        if nic.ssh_forward_port:
            netdev += f",hostfwd=tcp:127.0.0.1:{int(nic.ssh_forward_port)}-:22"
    # romfile= skips the iPXE option ROM: we never network-boot, and it saves boot time.
    device = f"virtio-net-pci,netdev={net},id={net}-dev,mac={opt(nic.mac)},romfile="
    if nic.tap and nic.mtu and nic.mtu != 1500:
        device += f",host_mtu={int(nic.mtu)}"
    return ["-netdev", netdev, "-device", device]


def pci_args(addresses: list[str]) -> list[str]:
    """VFIO passthrough of host PCI devices (bound to vfio-pci on the host)."""
    out: list[str] = []
    for i, addr in enumerate(addresses):
        if not PCI_ADDRESS.match(addr):
            raise VirtError(f"PCI device {addr!r} is not an address like 0000:17:00.0")
        out += ["-device", f"vfio-pci,host={addr},id=hostdev{i}"]
    return out


def smbios_arg(smbios: dict[str, str]) -> list[str]:
    unknown = sorted(set(smbios) - set(SMBIOS_TYPE1_KEYS))
    if unknown:
        raise VirtError(f"unknown SMBIOS type 1 fields {unknown}; known: {SMBIOS_TYPE1_KEYS}")
    if not smbios:
        return []
    fields = ",".join(f"{k}={opt(smbios[k])}" for k in SMBIOS_TYPE1_KEYS if k in smbios)
    return ["-smbios", f"type=1,{fields}"]


def root_disk(spec: GuestSpec) -> DiskSpec | None:
    """The disk the guest boots from: the one of kind ``root``, else the first."""
    for disk in spec.disks:
        if disk.kind == "root":
            return disk
    return spec.disks[0] if spec.disks else None


def migrated_disks(spec: GuestSpec) -> list[str]:
    """The drive ids of the disks a live migration copies: the writable local ones (root,
    ephemeral, swap; not the config drive, which the target makes again, nor volumes, nor an
    RBD root disk: shared storage)."""
    return [f"disk{i}" for i, d in enumerate(spec.disks)
            if not d.readonly and d.rbd is None and d.kind in ("root", "ephemeral", "swap")]


def build_command(spec: GuestSpec, accel: str, *, qemu: str = "qemu-system-x86_64",
                  incoming_fd: int | None = None, live_incoming: bool = False) -> list[str]:
    """The argv that starts ``spec`` as a QEMU owning the files of ``GuestFiles``, sandboxed
    (``SANDBOX``); the caller detaches it (``process.start_daemon``).

    ``incoming_fd``: a suspend state file to restore, open as this file descriptor in QEMU
    (the guest starts paused, as it was saved).
    ``live_incoming``: a live migration's target: it waits (``-incoming defer``) for the
    address to listen on, and stays paused after the stream arrived (``-S``).
    """
    if accel not in ("kvm", "tcg"):
        raise VirtError(f"accelerator {accel!r} is not kvm or tcg")
    if spec.vcpus < 1 or spec.memory_mb < 1:
        raise VirtError(f"guest {spec.uuid}: vcpus and memory_mb must be positive")
    files = GuestFiles(spec.instance_dir)
    if len(str(files.status_qmp)) > MAX_SOCKET_PATH:
        raise VirtError(f"instance dir {spec.instance_dir} is too long for a unix socket path "
                        f"({len(str(files.status_qmp))} > {MAX_SOCKET_PATH} bytes)")
    cmd = [qemu,
           "-name", f"guest={opt(spec.uuid)},debug-threads=on",
           "-uuid", spec.uuid,
           "-accel", accel,
           "-machine", "pc",
           "-cpu", accel_cpu(accel),
           "-smp", str(spec.vcpus),
           "-m", str(spec.memory_mb),
           "-nodefaults", "-no-user-config", "-display", "none",
           "-sandbox", SANDBOX,
           "-boot", "strict=on",
           *smbios_arg(spec.smbios),
           "-chardev", f"socket,id=qmp,path={opt(files.qmp)},server=on,wait=off",
           "-mon", "chardev=qmp,mode=control",
           "-chardev", f"socket,id=qmp-status,path={opt(files.status_qmp)},server=on,wait=off",
           "-mon", "chardev=qmp-status,mode=control",
           # The serial port is a client of the guest's console logger (console.py), which
           # caps and rotates console.log; reconnect: a restarted logger is found again.
           "-chardev", f"socket,id=serial0,path={opt(files.console_socket)},reconnect=1",
           "-serial", "chardev:serial0",
           # The graphical console: a VGA card and QEMU's VNC server on a unix socket.
           "-vga", "std", "-vnc", f"unix:{opt(files.vnc_socket)}",
           "-pidfile", str(files.pidfile),
           # QEMU's own log; its stderr goes here too (start_daemon).
           "-D", str(files.log)]
    root = root_disk(spec)
    scsi_bus = None
    if any(d.bus == "scsi" for d in spec.disks):
        scsi_bus = "scsi0"
        cmd += ["-device", f"virtio-scsi-pci,id={scsi_bus}"]
    for i, disk in enumerate(spec.disks):
        cmd += _disk_args(i, disk, disk is root, scsi_bus)
    rbd = any(over_qmp(d) for d in spec.disks)
    for i, nic in enumerate(spec.nics):
        cmd += _nic_args(i, nic, accel)
    cmd += pci_args(spec.pci_devices)
    if incoming_fd is not None:
        # with rbd disks, the state is read (migrate-incoming) once they are plugged
        cmd += ["-incoming", "defer" if rbd else f"fd:{int(incoming_fd)}"]
    elif live_incoming:
        cmd += ["-incoming", "defer", "-S"]
    elif rbd:
        cmd += ["-S"]  # runs once its rbd disks are plugged
    return cmd


def spec_to_json(spec: GuestSpec) -> str:
    """Without the disks' keys: a LUKS passphrase never lands in a file."""
    data = asdict(spec)
    for disk in data["disks"]:
        disk.pop("key", None)
    return json.dumps(data, default=str, indent=1, sort_keys=True)


def spec_from_json(text: str) -> GuestSpec:
    try:
        data: dict[str, Any] = json.loads(text)
        disks = [DiskSpec(**dict(d, path=Path(d["path"]),
                                 rbd=RbdSource(**d["rbd"]) if d.get("rbd") else None))
                 for d in data.pop("disks", [])]
        nics = [NicSpec(**n) for n in data.pop("nics", [])]
        return GuestSpec(**dict(data, instance_dir=Path(data["instance_dir"]), disks=disks,
                                nics=nics))
    except (ValueError, TypeError, KeyError) as exc:
        raise VirtError(f"unreadable guest spec: {exc}") from exc
