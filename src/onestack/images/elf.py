"""Just enough ELF64 reading for the image builder: a kernel module's ``.modinfo``
(name, depends, softdep) and a program's interpreter and ``DT_NEEDED`` libraries."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_PHDR = struct.Struct("<IIQQQQQQ")
_DYN = struct.Struct("<qQ")
SHT_DYNAMIC = 6
PT_INTERP = 3
DT_NEEDED = 1


class ElfError(ValueError):
    """Not an ELF64 little-endian file, or one cut short."""


@dataclass(frozen=True)
class Section:
    name: str
    type: int
    offset: int
    size: int
    link: int


class Elf:
    def __init__(self, data: bytes) -> None:
        if len(data) < _EHDR.size or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise ElfError("not a 64-bit little-endian ELF file")
        self.data = data
        h = _EHDR.unpack_from(data)
        self._phoff, self._shoff = h[5], h[6]
        self._phentsize, self._phnum = h[9], h[10]
        self._shentsize, self._shnum, self._shstrndx = h[11], h[12], h[13]
        self.sections = self._read_sections()

    @classmethod
    def open(cls, path: Path) -> Elf:
        return cls(path.read_bytes())

    def _read_sections(self) -> list[Section]:
        raw = []
        for i in range(self._shnum):
            off = self._shoff + i * self._shentsize
            if off + _SHDR.size > len(self.data):
                raise ElfError("section header table is cut short")
            raw.append(_SHDR.unpack_from(self.data, off))
        if not raw:
            return []
        strtab = raw[self._shstrndx]
        names = self.data[strtab[4]:strtab[4] + strtab[5]]
        return [Section(_cstr(names, s[0]), s[1], s[4], s[5], s[6]) for s in raw]

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def body(self, section: Section) -> bytes:
        return self.data[section.offset:section.offset + section.size]

    def modinfo(self) -> dict[str, list[str]]:
        """The ``key=value`` strings of a kernel module's ``.modinfo`` section."""
        sec = self.section(".modinfo")
        out: dict[str, list[str]] = {}
        if sec is None:
            return out
        for item in self.body(sec).split(b"\0"):
            key, sep, value = item.decode("utf-8", "replace").partition("=")
            if sep:
                out.setdefault(key, []).append(value)
        return out

    def interpreter(self) -> str | None:
        for i in range(self._phnum):
            ph = _PHDR.unpack_from(self.data, self._phoff + i * self._phentsize)
            if ph[0] == PT_INTERP:
                return self.data[ph[2]:ph[2] + ph[5]].rstrip(b"\0").decode()
        return None

    def needed(self) -> list[str]:
        """The shared libraries named by ``DT_NEEDED``, in order."""
        dyn = next((s for s in self.sections if s.type == SHT_DYNAMIC), None)
        if dyn is None:
            return []
        strtab = self.body(self.sections[dyn.link])
        out = []
        for off in range(dyn.offset, dyn.offset + dyn.size, _DYN.size):
            tag, val = _DYN.unpack_from(self.data, off)
            if tag == 0:
                break
            if tag == DT_NEEDED:
                out.append(_cstr(strtab, val))
        return out


def _cstr(blob: bytes, start: int) -> str:
    end = blob.find(b"\0", start)
    return blob[start:end if end >= 0 else len(blob)].decode("utf-8", "replace")
