"""Reading an uploaded archive safely (extract-archive): the tar is decompressed here, under
a bound on the bytes it may expand to and on any single read (tarfile reads a pax or GNU
long-name header whole, as large as its header declares), and surveyed before anything is
written: member count, declared sizes, sparse members and new containers are checked from
the headers alone, so a small archive that declares a terabyte is refused at its header.
"""

from __future__ import annotations

import bz2
import gzip
import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from onestack.errors import BadRequest, PayloadTooLarge

GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"
MAX_HEADER_READ = 4 * 1024 * 1024  # a pax or long-name header larger than this is refused
HEADER_SLACK = 64 * 1024 * 1024  # tar headers and padding beyond the members' bytes


@dataclass(frozen=True)
class ArchiveLimits:
    max_bytes: int  # the members' sizes together
    max_members: int
    max_containers: int  # containers one extraction may create (Swift's bulk_upload)


Source = IO[bytes] | gzip.GzipFile | bz2.BZ2File


class _Bounded(io.RawIOBase):
    """The decompressed archive as tarfile reads it: refuses to go past ``limit`` bytes and
    any single read larger than MAX_HEADER_READ (members are read in small chunks)."""

    def __init__(self, raw: Source, limit: int) -> None:
        super().__init__()
        self.raw = raw
        self.limit = limit

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def _check(self, end: int) -> None:
        if end > self.limit:
            raise PayloadTooLarge(f"The archive expands to more than {self.limit} bytes: "
                                  "split it into smaller archives.")

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > MAX_HEADER_READ:
            raise BadRequest("Invalid Tar File: a header or read larger than "
                             f"{MAX_HEADER_READ} bytes.")
        self._check(self.raw.tell() + size)
        return self.raw.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence != 0:
            raise BadRequest("Invalid Tar File: unexpected seek.")
        self._check(offset)
        return self.raw.seek(offset)

    def tell(self) -> int:
        return self.raw.tell()


def open_tar(fh: IO[bytes], limits: ArchiveLimits) -> tarfile.TarFile:
    """A TarFile over the spooled archive ``fh`` (plain, gzip or bzip2, told by its first
    bytes), reading at most what ``limits`` allow. Call it again for a second pass."""
    fh.seek(0)
    magic = fh.read(3)
    fh.seek(0)
    raw: Source
    if magic.startswith(GZIP_MAGIC):
        raw = gzip.GzipFile(fileobj=fh, mode="rb")
    elif magic == BZIP2_MAGIC:
        raw = bz2.BZ2File(fh)
    else:
        raw = fh
    bounded = _Bounded(raw, limits.max_bytes + HEADER_SLACK)
    try:
        return tarfile.open(fileobj=bounded, mode="r:")  # type-agnostic reader
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BadRequest("Invalid Tar File: " + str(exc)) from exc


def members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The archive's members one by one (headers only; BadRequest on a broken archive)."""
    while True:
        try:
            member = tar.next()
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
            raise BadRequest(f"Invalid Tar File: {exc}") from exc
        if member is None:
            return
        yield member


def member_path(member: tarfile.TarInfo) -> str:
    path = member.name
    while path.startswith(("./", "/")):
        path = path[2:] if path.startswith("./") else path[1:]
    return path


@dataclass
class Survey:
    members: int = 0
    bytes: int = 0
    containers: set[str] = field(default_factory=set)  # the containers members land in


def survey(tar: tarfile.TarFile, base: str | None, limits: ArchiveLimits) -> Survey:
    """Check every header before anything is written: refuse sparse members and more
    members or bytes than ``limits`` allow; note the containers the members land in."""
    out = Survey()
    for member in members(tar):
        if member.issparse():
            raise BadRequest(f"Invalid Tar File: {member.name!r} is a sparse file; archive "
                             "it without --sparse.")
        if not member.isfile():
            continue
        out.members += 1
        if out.members > limits.max_members:
            raise PayloadTooLarge(f"More than {limits.max_members} files in the archive: "
                                  "split it into smaller archives.")
        out.bytes += member.size
        if out.bytes > limits.max_bytes:
            raise PayloadTooLarge(f"The archive's files hold more than {limits.max_bytes} "
                                  "bytes: split it into smaller archives.")
        container = base or member_path(member).partition("/")[0]
        if container:
            out.containers.add(container)
    return out


def check_new_containers(new: int, limits: ArchiveLimits) -> None:
    if new > limits.max_containers:
        raise BadRequest(f"More than {limits.max_containers} containers to create from tar.")
