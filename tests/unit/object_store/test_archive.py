"""The archive survey: limits from the headers, sparse members, bounded reads."""

from __future__ import annotations

import bz2
import gzip
import io
import tarfile
from typing import IO

import pytest

from onestack.core.object_store import archive
from onestack.core.object_store.archive import ArchiveLimits
from onestack.errors import BadRequest, PayloadTooLarge

LIMITS = ArchiveLimits(max_bytes=100, max_members=3, max_containers=2)


COMPRESS = {"tar": lambda b: b, "tar.gz": gzip.compress, "tar.bz2": bz2.compress}


def _tar(files: dict[str, bytes], fmt: str = "tar") -> IO[bytes]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return io.BytesIO(COMPRESS[fmt](buf.getvalue()))


def _survey(fh: IO[bytes], limits: ArchiveLimits = LIMITS) -> archive.Survey:
    with archive.open_tar(fh, limits) as tar:
        return archive.survey(tar, None, limits)


@pytest.mark.parametrize("fmt", sorted(COMPRESS))
def test_survey_counts_and_notes_containers(fmt: str) -> None:
    got = _survey(_tar({"a/1": b"x" * 10, "b/2": b"y" * 20, "./a/3": b""}, fmt))
    assert (got.members, got.bytes, got.containers) == (3, 30, {"a", "b"})


def test_the_members_bytes_together_are_bounded() -> None:
    with pytest.raises(PayloadTooLarge, match="hold more than 100 bytes"):
        _survey(_tar({"a/1": b"x" * 60, "a/2": b"y" * 41}))


def test_the_member_count_is_bounded() -> None:
    with pytest.raises(PayloadTooLarge, match="More than 3 files"):
        _survey(_tar({f"a/{i}": b"" for i in range(4)}))


def test_new_containers_are_bounded() -> None:
    archive.check_new_containers(2, LIMITS)
    with pytest.raises(BadRequest, match=r"More than 2 containers to create from tar\."):
        archive.check_new_containers(3, LIMITS)


def test_a_truncated_member_is_an_invalid_archive() -> None:
    raw = _tar({"a/1": b"x" * 50}).getvalue()[:600]
    with pytest.raises(BadRequest, match="Invalid Tar File"):
        _survey(io.BytesIO(bz2.compress(raw)))


def test_decompression_stops_at_the_bound() -> None:
    """Reads and seeks past the bound (a run of zeros that decompresses on and on) stop."""
    bounded = archive._Bounded(io.BytesIO(b"\0" * 4096), limit=1024)
    assert bounded.read(1024) == b"\0" * 1024
    with pytest.raises(PayloadTooLarge):
        bounded.read(1)
    with pytest.raises(PayloadTooLarge):
        bounded.seek(2048)
    with pytest.raises(BadRequest, match="larger than"):
        bounded.read(archive.MAX_HEADER_READ + 1)


def test_not_a_tar() -> None:
    with pytest.raises(BadRequest, match="Invalid Tar File"):
        _survey(io.BytesIO(b"not a tar at all" * 100))
