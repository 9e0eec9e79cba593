"""Pick a kernel's modules and everything they depend on, in load order, without depmod."""

from __future__ import annotations

import lzma
from dataclasses import dataclass
from pathlib import Path

from onestack.images.elf import Elf


class ModuleError(LookupError):
    """A required module, or one it depends on, is not in the kernel tree."""


@dataclass(frozen=True)
class Module:
    name: str
    path: Path

    def read(self) -> bytes:
        """The module's bytes, decompressed when the kernel ships ``.ko.xz``."""
        data = self.path.read_bytes()
        return lzma.decompress(data) if self.path.name.endswith(".xz") else data


def canonical(name: str) -> str:
    return name.replace("-", "_")


def index_modules(modules_dir: Path) -> dict[str, Path]:
    """``name -> file`` for every ``.ko``/``.ko.xz`` below ``lib/modules/<version>``."""
    out: dict[str, Path] = {}
    for path in sorted(modules_dir.rglob("*.ko*")):
        stem = path.name.split(".ko")[0]
        out[canonical(stem)] = path
    return out


def _modinfo(path: Path) -> dict[str, list[str]]:
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        data = lzma.decompress(data)
    return Elf(data).modinfo()


def _dependencies(info: dict[str, list[str]], index: dict[str, Path]) -> list[str]:
    deps = [canonical(d) for v in info.get("depends", []) for d in v.split(",") if d]
    for soft in info.get("softdep", []):
        # "pre: crc32c post: foo": the pre list must be loaded first; load it if present.
        words = soft.split()
        pre = False
        for w in words:
            if w.endswith(":"):
                pre = w == "pre:"
            elif pre and canonical(w) in index:
                deps.append(canonical(w))
    return deps


def resolve(index: dict[str, Path], required: list[str], optional: list[str]) -> list[Module]:
    """The wanted modules and their dependencies, each after what it depends on.

    A required module that is missing raises :class:`ModuleError`; an optional one that is
    missing is skipped (it is built into this kernel, or this kernel lacks it).
    """
    order: list[Module] = []
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in done or name in visiting:
            return
        path = index.get(name)
        if path is None:
            raise ModuleError(f"kernel module {name} not found (needed by {' -> '.join(chain)})")
        visiting.add(name)
        for dep in _dependencies(_modinfo(path), index):
            visit(dep, (*chain, name))
        visiting.discard(name)
        done.add(name)
        order.append(Module(name, path))

    for want in required:
        visit(canonical(want), ("image",))
    for want in optional:
        if canonical(want) in index:
            visit(canonical(want), ("image",))
    return order
