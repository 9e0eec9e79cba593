"""``onestack images build-tiny``: the tiny bootable test image, built from Debian packages
and cached under ``~/.cache/onestack/tiny`` (``$ONESTACK_TINY_CACHE`` overrides), shared by
every data dir on the machine.

The pipeline: resolve the packages to exact files (``apt-get download --print-uris``), derive
the cache key from them and from this builder's recipe and guest scripts, and when no image
has that key: download the ``.deb`` files, unpack them with ``dpkg-deb -x``, lay out an
initramfs (busybox, dropbear and its libraries, a few kernel modules, the boot scripts), put
kernel, initramfs and ``syslinux.cfg`` on a FAT disk made in a file, install syslinux on it
and convert it to compressed qcow2.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from onestack.images import debs, disk, kmod, rootfs

# Part of the cache key: bump it whenever a change here changes what the image holds.
BUILDER_VERSION = 2
IMAGE_PREFIX = "onestack-tiny-"
MAX_IMAGE_BYTES = 32 * 1024 * 1024
DEFAULT_CMDLINE = "console=tty0 console=ttyS0,115200n8 no_timer_check scsi_mod.scan=sync"

Progress = Callable[[str], None]


class TinyImageError(RuntimeError):
    """The tiny image could not be built; the message says why and what to install."""


@dataclass(frozen=True)
class Recipe:
    """What goes into the image. Everything here is part of the cache key."""

    kernel_package: str = "linux-image-cloud-amd64"
    # netcat-traditional: a UDP server (busybox-static's nc has no -u and no udpsvd)
    packages: tuple[str, ...] = ("busybox-static", "dropbear-bin", "netcat-traditional")
    required_modules: tuple[str, ...] = ("virtio_pci", "virtio_blk", "virtio_net", "isofs",
                                         "vfat")
    # Loaded first, so that DHCP runs while the rest load.
    network_modules: tuple[str, ...] = ("virtio_pci", "virtio_net", "e1000")
    optional_modules: tuple[str, ...] = (
        "virtio_scsi", "sd_mod", "sr_mod", "ata_piix", "ahci", "e1000", "nls_cp437", "nls_ascii",
        "nls_iso8859_1", "virtio_rng", "button", "evdev")
    cmdline: str = DEFAULT_CMDLINE


@dataclass
class Plan:
    """The exact inputs of one build and where its image goes."""

    recipe: Recipe
    debs: list[debs.Deb]
    guest: dict[str, bytes]
    key: str = field(init=False)

    def __post_init__(self) -> None:
        self.key = cache_key(self.recipe, self.debs, self.guest)

    @property
    def image_name(self) -> str:
        return f"{IMAGE_PREFIX}{self.key[:16]}.qcow2"


def cache_key(recipe: Recipe, packages: list[debs.Deb], guest: dict[str, bytes]) -> str:
    """A digest of every input: recipe, exact package files and guest scripts."""
    doc = {
        "builder": BUILDER_VERSION,
        "recipe": asdict(recipe),
        "debs": sorted((d.filename, d.sha256) for d in packages),
        "guest": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(guest.items())},
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def default_cache_dir(data_dir: Path | None = None) -> Path:
    """Where built images are kept: ``$ONESTACK_TINY_CACHE``, else the user's cache dir
    (``$XDG_CACHE_HOME/onestack/tiny``). ``data_dir`` is accepted for older callers and not
    used: one cache serves every cloud on the machine."""
    del data_dir
    override = os.environ.get("ONESTACK_TINY_CACHE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "onestack" / "tiny"


def closure(tree: dict[str, list[str]], roots: list[str]) -> list[str]:
    """``roots`` and everything they depend on in ``tree``, in breadth-first order."""
    names = list(dict.fromkeys(roots))
    queue = list(names)
    while queue:
        for dep in tree.get(queue.pop(0), []):
            if dep not in names:
                names.append(dep)
                queue.append(dep)
    return names


def plan(recipe: Recipe, progress: Progress) -> Plan:
    if debs.lists_empty():
        progress("apt-get update (the package lists are empty)")
        debs.update_lists()
    tree = debs.dependency_tree([recipe.kernel_package, *recipe.packages])
    # linux-image-amd64 -> linux-image-6.1.0-NN-amd64; a concrete name stands for itself.
    kernel = next((d for d in tree.get(recipe.kernel_package, [])
                   if d.startswith("linux-image-")), recipe.kernel_package)
    # The user-space packages with everything they depend on (their shared libraries).
    names = [kernel, *closure(tree, list(recipe.packages))]
    return Plan(recipe, debs.resolve(names), rootfs.guest_files())


@contextlib.contextmanager
def _locked(cache: Path) -> Iterator[None]:
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build_tiny(cache_dir: Path, *, force: bool = False, recipe: Recipe | None = None,
               progress: Progress | None = None) -> Path:
    """The path of the tiny qcow2 image in ``cache_dir``, built unless cached."""
    say = progress or (lambda _m: None)
    recipe = recipe or Recipe()
    missing = disk.missing_tools()
    if missing:
        raise TinyImageError("the image builder needs these Debian packages: "
                             f"{' '.join(missing)} (apt-get install {' '.join(missing)})")
    with _locked(cache_dir):
        try:
            the_plan = plan(recipe, say)
            image = cache_dir / the_plan.image_name
            if image.exists() and not force:
                say(f"cached: {image}")
                return image
            try:
                paths = _download(the_plan, cache_dir, say)
            except debs.AptError:
                say("download failed; apt-get update and retrying once")
                debs.update_lists()
                the_plan = plan(recipe, say)
                image = cache_dir / the_plan.image_name
                paths = _download(the_plan, cache_dir, say)
            _build(the_plan, paths, cache_dir, image, say)
        except (debs.AptError, disk.DiskError, kmod.ModuleError, rootfs.RootfsError) as exc:
            raise TinyImageError(str(exc)) from exc
        _prune(cache_dir, the_plan, image)
    return image


def _download(the_plan: Plan, cache_dir: Path, say: Progress) -> list[Path]:
    total = sum(d.size for d in the_plan.debs) / 1e6
    say(f"apt-get download: {len(the_plan.debs)} packages ({total:.0f} MB)")
    return debs.fetch(the_plan.debs, cache_dir / "debs")


def _build(the_plan: Plan, paths: list[Path], cache_dir: Path, image: Path,
           say: Progress) -> None:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="build-", dir=cache_dir) as tmp:
        work = Path(tmp)
        root = work / "root"
        for path in paths:
            say(f"dpkg-deb -x {path.name}")
            debs.extract(path, root)
        kernels = sorted((root / "boot").glob("vmlinuz-*"))
        if not kernels:
            raise TinyImageError(f"{the_plan.recipe.kernel_package} has no /boot/vmlinuz-*")
        vmlinuz = kernels[-1]
        version = vmlinuz.name.removeprefix("vmlinuz-")
        say(f"initramfs: busybox, dropbear, modules of {version}")
        index = kmod.index_modules(root / "lib" / "modules" / version)
        early = kmod.resolve(index, [], list(the_plan.recipe.network_modules))
        modules = kmod.resolve(index, list(the_plan.recipe.required_modules),
                               list(the_plan.recipe.optional_modules))
        archive = rootfs.build_archive(root, early, modules, the_plan.guest)
        initrd = work / "initrd.gz"
        initrd.write_bytes(archive.gzip())
        cfg = work / "syslinux.cfg"
        cfg.write_text(disk.syslinux_cfg("vmlinuz", "initrd.gz", the_plan.recipe.cmdline))
        say("FAT disk with syslinux, then qcow2")
        raw = work / "disk.raw"
        disk.make_fat_image(raw, {"vmlinuz": vmlinuz, "initrd.gz": initrd,
                                  "syslinux.cfg": cfg})
        partial = work / "image.qcow2"
        disk.to_qcow2(raw, partial)
        size = partial.stat().st_size
        if size >= MAX_IMAGE_BYTES:
            raise TinyImageError(f"the image came out at {size} bytes, over 32 MB")
        manifest = {
            "image": image.name,
            "kernel": version,
            "packages": [d.filename for d in the_plan.debs],
            "modules": list(dict.fromkeys(m.name for m in [*early, *modules])),
            "cmdline": the_plan.recipe.cmdline,
            "initrd_bytes": initrd.stat().st_size,
            "image_bytes": size,
            "ssh_user": "root",
        }
        image.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")
        shutil.move(partial, image)
    say(f"built {image.name} ({size / 1e6:.1f} MB) in {time.monotonic() - started:.0f}s")


def manifest(image: Path) -> dict[str, object]:
    """What :func:`build_tiny` recorded beside ``image``."""
    data: dict[str, object] = json.loads(image.with_suffix(".json").read_text())
    return data


def _prune(cache_dir: Path, the_plan: Plan, keep: Path) -> None:
    """Drop images and packages that the current inputs no longer use."""
    for old in cache_dir.glob(f"{IMAGE_PREFIX}*"):
        if old.stem != keep.stem:
            old.unlink(missing_ok=True)
    wanted = {d.filename for d in the_plan.debs}
    for deb in (cache_dir / "debs").glob("*.deb"):
        if deb.name not in wanted:
            deb.unlink(missing_ok=True)
