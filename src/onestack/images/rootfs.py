"""The initramfs of the tiny image: busybox, dropbear with its shared libraries, the
chosen kernel modules and the boot scripts, laid out from unpacked Debian packages."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path, PurePosixPath

from onestack.images.cpio import Archive
from onestack.images.elf import Elf
from onestack.images.kmod import Module

LIB_DIRS = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "lib", "usr/lib")
# Guest files shipped as package data: name in the package -> (path in the image, mode).
GUEST_FILES = {
    "init": ("init", 0o755),
    "inittab": ("etc/inittab", 0o644),
    "rcS": ("etc/init.d/rcS", 0o755),
    "metadata.sh": ("etc/onestack/metadata.sh", 0o644),
    "udhcpc.script": ("etc/onestack/udhcpc.script", 0o755),
    "acpi-power": ("etc/acpi/PWRF/00000080", 0o755),
    "lsblk": ("bin/lsblk", 0o755),  # busybox has none; tempest counts disks with it
}
# Programs taken from the packages with their shared libraries: (package, path).
PROGRAMS = (
    ("dropbear-bin", "usr/sbin/dropbear"),
    ("dropbear-bin", "usr/bin/dropbearkey"),
    # UDP for tests: `nc.traditional -u -l -p PORT -q 0` answers one datagram's sender
    ("netcat-traditional", "bin/nc.traditional"),
)
STATIC_FILES = {
    "etc/passwd": "root:*:0:0:root:/root:/bin/sh\n",
    "etc/group": "root:x:0:\ntty:x:5:\n",
    "etc/shells": "/bin/sh\n/bin/ash\n",
    "etc/profile": ("export PATH=/sbin:/usr/sbin:/bin:/usr/bin\n"
                    "PS1='\\u@\\h:\\w\\$ '\n"),
    "etc/os-release": ('NAME="Onestack tiny"\nID=onestack-tiny\n'
                       'PRETTY_NAME="Onestack tiny test image"\n'),
}


class RootfsError(RuntimeError):
    """Something the image needs is not in the unpacked packages."""


def guest_files() -> dict[str, bytes]:
    pkg = resources.files("onestack.images") / "guest"
    return {name: (pkg / name).read_bytes() for name in GUEST_FILES}


def resolve_in(root: Path, rel: str) -> Path:
    """``root/rel`` with symlinks followed inside ``root`` (absolute targets included)."""
    parts = list(PurePosixPath(rel.lstrip("/")).parts)
    cur = PurePosixPath()
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            cur = cur.parent
            continue
        nxt = cur / part
        host = root / nxt
        if host.is_symlink():
            hops += 1
            if hops > 40:
                raise RootfsError(f"symlink loop at {nxt}")
            target = PurePosixPath(os.readlink(host))
            parts = list(target.parts[1:] if target.is_absolute() else target.parts) + parts
            if target.is_absolute():
                cur = PurePosixPath()
            continue
        cur = nxt
    return root / cur


def find_library(root: Path, soname: str) -> tuple[str, Path]:
    for d in LIB_DIRS:
        candidate = root / d / soname
        if candidate.exists() or candidate.is_symlink():
            real = resolve_in(root, f"{d}/{soname}")
            if real.is_file():
                return f"{d}/{soname}", real
    raise RootfsError(f"shared library {soname} is not in the unpacked packages")


def add_program(archive: Archive, root: Path, rel: str) -> list[str]:
    """Add the program at ``rel`` with its interpreter and shared libraries (the closure of
    ``DT_NEEDED``); return the paths added."""
    added = [rel]
    archive.file(rel, resolve_in(root, rel).read_bytes(), 0o755)
    elf = Elf.open(resolve_in(root, rel))
    interp = elf.interpreter()
    if interp:
        archive.file(interp, resolve_in(root, interp).read_bytes(), 0o755)
        added.append(interp.lstrip("/"))
    queue = list(elf.needed())
    links = {PurePosixPath(interp).name: interp} if interp else {}
    seen: set[str] = set()
    while queue:
        soname = queue.pop(0)
        if soname in seen:
            continue
        seen.add(soname)
        if soname in links:
            # The interpreter, also named as a library: one copy, one symlink.
            path = f"lib/x86_64-linux-gnu/{soname}"
            if path not in archive.entries:
                archive.symlink(path, links[soname])
            continue
        path, real = find_library(root, soname)
        if path not in archive.entries:
            archive.file(path, real.read_bytes(), 0o755)
            added.append(path)
        queue.extend(Elf.open(real).needed())
    return added


def build_archive(root: Path, early: list[Module], modules: list[Module],
                  guest: dict[str, bytes]) -> Archive:
    """The initramfs tree, from packages unpacked under ``root``. The guest loads the
    ``early`` modules (network) first, then the rest of ``modules``."""
    a = Archive()
    for d in ("dev", "proc", "sys", "run", "mnt", "var/log", "usr/bin", "usr/sbin", "sbin"):
        a.dir(d)
    a.dir("root", 0o700)
    a.dir("tmp", 0o1777)
    a.chardev("dev/console", 5, 1)
    a.chardev("dev/null", 1, 3, 0o666)
    busybox = resolve_in(root, "bin/busybox")
    if not busybox.is_file():
        raise RootfsError("busybox-static did not provide /bin/busybox")
    a.file("bin/busybox", busybox.read_bytes(), 0o755)
    a.symlink("bin/sh", "busybox")
    for package, prog in PROGRAMS:
        if not resolve_in(root, prog).is_file():
            raise RootfsError(f"{package} did not provide /{prog}")
        add_program(a, root, prog)
    first = {m.name for m in early}
    late = [m for m in modules if m.name not in first]
    for m in [*early, *late]:
        a.file(f"lib/modules/{m.name}.ko", m.read())
    a.file("etc/onestack/modules.net", "".join(f"{m.name}\n" for m in early).encode())
    a.file("etc/onestack/modules", "".join(f"{m.name}\n" for m in late).encode())
    for name, text in STATIC_FILES.items():
        a.file(name, text.encode())
    for name, data in guest.items():
        path, mode = GUEST_FILES[name]
        a.file(path, data, mode)
    return a
