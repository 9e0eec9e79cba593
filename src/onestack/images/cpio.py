"""A reproducible initramfs: a newc cpio archive written in Python, every file owned by
root, with fixed timestamps, compressed with gzip (which every kernel can unpack)."""

from __future__ import annotations

import gzip
import stat
from dataclasses import dataclass, field


@dataclass
class Entry:
    name: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


@dataclass
class Archive:
    """Collects entries (parents first, added as needed) and writes them sorted."""

    entries: dict[str, Entry] = field(default_factory=dict)

    def _parents(self, name: str) -> None:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.entries:
                self.entries[d] = Entry(d, stat.S_IFDIR | 0o755)

    def _add(self, entry: Entry) -> None:
        entry.name = entry.name.strip("/")
        if not entry.name:
            raise ValueError("an archive entry needs a name")
        self._parents(entry.name)
        self.entries[entry.name] = entry

    def dir(self, name: str, perm: int = 0o755) -> None:
        self._add(Entry(name, stat.S_IFDIR | perm))

    def file(self, name: str, data: bytes, perm: int = 0o644) -> None:
        self._add(Entry(name, stat.S_IFREG | perm, data))

    def symlink(self, name: str, target: str) -> None:
        self._add(Entry(name, stat.S_IFLNK | 0o777, target.encode()))

    def chardev(self, name: str, major: int, minor: int, perm: int = 0o600) -> None:
        self._add(Entry(name, stat.S_IFCHR | perm, rdev=(major, minor)))

    def newc(self, mtime: int = 0) -> bytes:
        out = bytearray()
        ino = 1
        for name in sorted(self.entries):
            e = self.entries[name]
            out += _record(ino, e.mode, mtime, e.data, e.rdev, e.name)
            ino += 1
        out += _record(0, 0, 0, b"", (0, 0), "TRAILER!!!", nlink=1)
        return bytes(out)

    def gzip(self, mtime: int = 0) -> bytes:
        return gzip.compress(self.newc(mtime), compresslevel=9, mtime=mtime)

    def size(self) -> int:
        return sum(len(e.data) for e in self.entries.values())


def _pad4(n: int) -> bytes:
    return b"\0" * (-n % 4)


def _record(ino: int, mode: int, mtime: int, data: bytes, rdev: tuple[int, int], name: str,
            nlink: int | None = None) -> bytes:
    raw_name = name.encode() + b"\0"
    if nlink is None:
        nlink = 2 if stat.S_ISDIR(mode) else 1
    fields = (ino, mode, 0, 0, nlink, mtime, len(data), 0, 0, rdev[0], rdev[1],
              len(raw_name), 0)
    header = b"070701" + b"".join(b"%08x" % f for f in fields)
    head = header + raw_name
    return head + _pad4(len(head)) + data + _pad4(len(data))
