"""``onestack images build-cloud``: a Debian bookworm guest with real cloud-init, for tests
that need what a distribution image does (cloud-init reading the config drive or the
metadata service, systemd, OpenSSH). Cached under ``~/.cache/onestack/cloud``
(``$ONESTACK_CLOUD_CACHE`` overrides), keyed by a digest of the recipe and the exact
package files apt would install for the named packages.

No loop mounts: ``debootstrap --variant=minbase`` into a directory (as root), the guest
configured there, then an MBR disk assembled in a plain file: a FAT boot partition (kernel,
Debian's own initramfs, ``syslinux.cfg``; syslinux installed through mtools) made in its
own file with ``mkfs.vfat -h`` (the partition offset as hidden sectors), an ext4 root
partition made with ``mkfs.ext4 -d <root>`` in its own file, both copied behind a
partition table written here, and the whole converted to compressed qcow2.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from onestack.images import debs, disk
from onestack.images.builder import Progress, _locked

BUILDER_VERSION = 1
IMAGE_PREFIX = "onestack-cloud-"
SECTOR = 512
MIB = 1024 * 1024
ROOT_LABEL = "cloudroot"
MBR_CODE = Path("/usr/lib/syslinux/mbr/mbr.bin")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
SSH_USER = "debian"  # Debian's cloud-init default user

# Written into the guest tree (path -> content); part of the cache key.
GUEST_CONFIG = {
    "etc/cloud/cloud.cfg.d/90_onestack.cfg": (
        "# Onestack: look only where an OpenStack cloud puts its data.\n"
        "datasource_list: [ ConfigDrive, OpenStack, None ]\n"
        "# no locales package in the image: leave the locale as it is (a string, as\n"
        "# the schema wants; cc_locale skips on any false-like value)\n"
        "locale: \"false\"\n"
        "datasource:\n"
        "  OpenStack:\n"
        "    max_wait: 60\n"
        "    timeout: 5\n"
        "    retries: 3\n"),
    "etc/fstab": f"LABEL={ROOT_LABEL} / ext4 defaults,errors=remount-ro 0 1\n",
    "etc/network/interfaces": ("# cloud-init writes the NICs into interfaces.d\n"
                               "auto lo\niface lo inet loopback\n\n"
                               "source /etc/network/interfaces.d/*\n"),
    "etc/hosts": "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n",
    "etc/dpkg/dpkg.cfg.d/01_nodoc": ("path-exclude /usr/share/doc/*\n"
                                     "path-exclude /usr/share/man/*\n"
                                     "path-exclude /usr/share/locale/*\n"
                                     "path-exclude /usr/share/info/*\n"),
}
# Trimmed from the tree after installation (relative to it).
TRIM = ("usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info",
        "var/lib/apt/lists", "var/cache/apt", "var/cache/debconf/templates.dat-old",
        "var/log")


class CloudImageError(RuntimeError):
    """The cloud-init image could not be built; the message says why."""


@dataclass(frozen=True)
class CloudRecipe:
    suite: str = "bookworm"
    kernel_package: str = "linux-image-cloud-amd64"
    packages: tuple[str, ...] = (
        "systemd-sysv", "udev", "initramfs-tools", "cloud-init", "openssh-server",
        "ifupdown", "isc-dhcp-client", "iproute2", "netbase", "sudo", "ca-certificates",
        # debootstrap does not resolve virtual packages: python3-cryptography needs the
        # python3-cffi-backend-api-* that this one provides
        "python3-cffi-backend")
    cmdline: str = (f"root=LABEL={ROOT_LABEL} ro console=tty0 console=ttyS0,115200n8 "
                    "net.ifnames=0 no_timer_check")
    root_slack_mib: int = 192


def default_cache_dir() -> Path:
    override = os.environ.get("ONESTACK_CLOUD_CACHE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "onestack" / "cloud"


def apt_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian archive URL the host's apt uses (deb822 or one-line sources)."""
    texts = [p.read_text(errors="replace") for p in sorted(sources_dir.glob("sources.list.d/*"))
             if p.suffix in (".sources", ".list")]
    main_list = sources_dir / "sources.list"
    if main_list.exists():
        texts.insert(0, main_list.read_text(errors="replace"))
    for text in texts:
        for m in re.finditer(r"(?m)^(?:URIs:\s*|deb\s+(?:\[[^]]*\]\s+)?)(\S+/debian)/?\s*$|"
                             r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s+\S+", text):
            url = m.group(1) or m.group(2)
            if url and "security" not in url:
                return url
    return DEFAULT_MIRROR


def cache_key(recipe: CloudRecipe, packages: list[debs.Deb], mirror: str) -> str:
    doc = {"builder": BUILDER_VERSION, "recipe": asdict(recipe), "mirror": mirror,
           "debs": sorted((d.filename, d.sha256) for d in packages),
           "guest": GUEST_CONFIG}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _run(cmd: list[str], timeout: float = 1800) -> str:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8",
           "DEBIAN_FRONTEND": "noninteractive", "MTOOLS_SKIP_CHECK": "1"}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env,
                              timeout=timeout)
    except FileNotFoundError as exc:
        raise CloudImageError(f"{cmd[0]} is not installed") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise CloudImageError(f"`{' '.join(cmd[:4])} ...` failed: {' / '.join(tail)}")
    return proc.stdout


def missing_tools() -> list[str]:
    tools = {"debootstrap": "debootstrap", "mkfs.ext4": "e2fsprogs", "chroot": "coreutils"}
    missing = {pkg for tool, pkg in tools.items() if shutil.which(tool) is None}
    if not MBR_CODE.exists():
        missing.add("syslinux-common")
    return sorted(missing | set(disk.missing_tools()))


def build_cloud(cache_dir: Path | None = None, *, force: bool = False,
                recipe: CloudRecipe | None = None, progress: Progress | None = None) -> Path:
    """The path of the cloud-init qcow2 image in ``cache_dir``, built unless cached."""
    say = progress or (lambda _m: None)
    recipe = recipe or CloudRecipe()
    cache_dir = cache_dir or default_cache_dir()
    missing = missing_tools()
    if missing:
        raise CloudImageError(f"building the cloud image needs: apt-get install "
                              f"{' '.join(missing)}")
    if os.geteuid() != 0:
        raise CloudImageError("debootstrap needs root")
    with _locked(cache_dir):
        try:
            if debs.lists_empty():
                debs.update_lists()
            pinned = debs.resolve([recipe.kernel_package, *recipe.packages])
        except debs.AptError as exc:
            raise CloudImageError(str(exc)) from exc
        mirror = apt_mirror()
        key = cache_key(recipe, pinned, mirror)
        image = cache_dir / f"{IMAGE_PREFIX}{key[:16]}.qcow2"
        if image.exists() and not force:
            say(f"cached: {image}")
            return image
        _build(recipe, mirror, cache_dir, image, say)
        for old in cache_dir.glob(f"{IMAGE_PREFIX}*"):
            if old.stem != image.stem:
                old.unlink(missing_ok=True)
    return image


def _build(recipe: CloudRecipe, mirror: str, cache_dir: Path, image: Path,
           say: Progress) -> None:
    started = time.monotonic()
    debs_dir = cache_dir / "debs"
    debs_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="build-", dir=cache_dir) as tmp:
        work = Path(tmp)
        root = work / "root"
        say(f"debootstrap --variant=minbase {recipe.suite} from {mirror}")
        include = ",".join([recipe.kernel_package, *recipe.packages])
        _run(["debootstrap", "--variant=minbase", f"--include={include}",
              f"--cache-dir={debs_dir}", recipe.suite, str(root), mirror])
        t_bootstrap = time.monotonic() - started
        say("configuring the guest")
        configure(root)
        boot = work / "boot"
        boot.mkdir()
        kernel, initrd = _take_boot_files(root, boot)
        say("ext4 root and FAT boot partitions, then qcow2")
        raw = work / "disk.raw"
        sizes = assemble(raw, root, boot, kernel, initrd, recipe)
        partial = work / "image.qcow2"
        disk.to_qcow2(raw, partial)
        size = partial.stat().st_size
        manifest = {"image": image.name, "kernel": kernel.name, "cmdline": recipe.cmdline,
                    "packages": sorted(_installed(root)), "ssh_user": SSH_USER,
                    "image_bytes": size, "virtual_bytes": raw.stat().st_size, **sizes,
                    "debootstrap_s": round(t_bootstrap),
                    "build_s": round(time.monotonic() - started)}
        image.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")
        shutil.move(partial, image)
    say(f"built {image.name} ({size / 1e6:.0f} MB) in {time.monotonic() - started:.0f}s")


def configure(root: Path) -> None:
    """Make the bootstrapped tree a cloud guest: cloud-init's config, no host identity
    (machine id, SSH host keys, host name), no docs, lists or logs."""
    for rel, text in GUEST_CONFIG.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "etc/network/interfaces.d").mkdir(parents=True, exist_ok=True)
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/machine-id").write_text("")
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    (root / "etc/hostname").write_text("localhost\n")
    for rel in TRIM:
        path = root / rel
        if path.is_dir():
            shutil.rmtree(path)
            path.mkdir(parents=True)
    (root / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
    (root / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)


def _installed(root: Path) -> list[str]:
    status = (root / "var/lib/dpkg/status").read_text(errors="replace")
    return re.findall(r"(?m)^Package: (\S+)", status)


def _take_boot_files(root: Path, boot: Path) -> tuple[Path, Path]:
    """Move the kernel and Debian's initramfs out of the tree onto the boot partition."""
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise CloudImageError("the kernel package left no /boot/vmlinuz-*")
    version = kernels[-1].name.removeprefix("vmlinuz-")
    initrd = root / "boot" / f"initrd.img-{version}"
    if not initrd.exists():
        raise CloudImageError(f"no initramfs for {version} (update-initramfs did not run)")
    kernel_out, initrd_out = boot / "vmlinuz", boot / "initrd.img"
    shutil.copyfile(kernels[-1], kernel_out)
    shutil.copyfile(initrd, initrd_out)
    for path in (kernels[-1], initrd):
        path.unlink()
    return kernel_out, initrd_out


def _mib_up(n: int) -> int:
    return -(-n // MIB) * MIB


def _tree_bytes(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if not path.is_symlink():
                total += max(path.stat().st_size, 4096)
    return total


def mbr(partitions: list[tuple[int, int, int, bool]], code: bytes) -> bytes:
    """A master boot record: ``code`` (at most 440 bytes), then up to four entries of
    (first sector, sector count, type, bootable), CHS fields set to LBA-only values."""
    if len(code) > 440:
        raise CloudImageError("MBR boot code over 440 bytes")
    out = bytearray(SECTOR)
    out[:len(code)] = code
    struct.pack_into("<I", out, 440, 0x0E5A7C4B)  # disk signature
    for i, (start, count, kind, active) in enumerate(partitions):
        entry = struct.pack("<B3sB3sII", 0x80 if active else 0, b"\xfe\xff\xff", kind,
                            b"\xfe\xff\xff", start, count)
        out[446 + 16 * i:446 + 16 * (i + 1)] = entry
    out[510:512] = b"\x55\xaa"
    return bytes(out)


def assemble(raw: Path, root: Path, boot: Path, kernel: Path, initrd: Path,
             recipe: CloudRecipe) -> dict[str, int]:
    """Write the partitioned disk to ``raw``; return the partition sizes."""
    boot_start = MIB
    cfg = boot / "syslinux.cfg"
    cfg.write_text(disk.syslinux_cfg(kernel.name, initrd.name, recipe.cmdline))
    fat = boot.parent / "boot.fat"
    boot_bytes = _mib_up(kernel.stat().st_size + initrd.stat().st_size + 4 * MIB)
    with fat.open("wb") as f:
        f.truncate(boot_bytes)
    _run(["mkfs.vfat", "-n", "BOOT", "-i", "0e5a7c4c", "-h", str(boot_start // SECTOR),
          str(fat)])
    for src in (kernel, initrd, cfg):
        _run(["mcopy", "-o", "-i", str(fat), str(src), f"::/{src.name}"])
    _run(["syslinux", "--install", str(fat)])
    root_start = boot_start + boot_bytes
    root_bytes = _mib_up(int(_tree_bytes(root) * 1.15) + recipe.root_slack_mib * MIB)
    ext4 = boot.parent / "root.ext4"
    _run(["mkfs.ext4", "-q", "-F", "-L", ROOT_LABEL, "-d", str(root), "-E",
          "lazy_itable_init=1,lazy_journal_init=1", str(ext4), f"{root_bytes // 1024}k"])
    table = mbr([(boot_start // SECTOR, boot_bytes // SECTOR, 0x0E, True),
                 (root_start // SECTOR, root_bytes // SECTOR, 0x83, False)],
                MBR_CODE.read_bytes()[:440])
    with raw.open("wb") as out:
        out.write(table)
        for start, part in ((boot_start, fat), (root_start, ext4)):
            out.seek(start)
            with part.open("rb") as piece:
                shutil.copyfileobj(piece, out, 4 * MIB)
        out.truncate(root_start + root_bytes)
    return {"boot_partition_bytes": boot_bytes, "root_partition_bytes": root_bytes}


def manifest(image: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(image.with_suffix(".json").read_text())
    return data
