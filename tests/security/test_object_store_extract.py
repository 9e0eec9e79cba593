"""extract-archive bombs: an archive is checked from its headers before anything is written,
so a kilobyte that declares a terabyte, sparse members and more containers than /info's
max_containers_per_extraction are refused with Swift's own 4xx and leave nothing behind."""

from __future__ import annotations

import gzip
import io
import tarfile
import time
from collections.abc import Iterator

import httpx
import pytest

from onestack.core.object_store.base import CONSTRAINTS
from tests.api.conftest import cloud, pg_server, unique  # noqa: F401  (the API suite's clouds)
from tests.support.server import RunningCloud

TB = 1024**4


@pytest.fixture
def swift(cloud: RunningCloud) -> Iterator[httpx.Client]:  # noqa: F811
    acct = cloud.accounts["demo"]
    with httpx.Client(base_url=f"{cloud.base_url}/object-storage/v1/AUTH_{acct.project_id}",
                      headers={"X-Auth-Token": cloud.token("demo")}, timeout=120) as client:
        yield client


def _headers_only(*members: tarfile.TarInfo, fmt: int = tarfile.GNU_FORMAT) -> bytes:
    """A gzipped tar of the members' headers and no data: what costs an attacker nothing."""
    raw = b"".join(m.tobuf(fmt, "utf-8", "surrogateescape") for m in members)
    return gzip.compress(raw + b"\0" * 1024)


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    return info


def _extract(swift: httpx.Client, body: bytes, fmt: str = "tar.gz") -> httpx.Response:
    return swift.put("", params={"extract-archive": fmt}, content=body,
                     headers={"Accept": "application/json"})


def _nothing_written(swift: httpx.Client, container: str) -> None:
    assert swift.head(f"/{container}").status_code == 404


def test_a_kilobyte_declaring_a_terabyte_is_refused_unwritten(swift: httpx.Client) -> None:
    c = unique("bomb")
    for size in (TB, CONSTRAINTS.max_extracted_bytes + 1):
        body = _headers_only(_member(f"{c}/huge", size))
        assert len(body) < 1024
        started = time.monotonic()
        r = _extract(swift, body)
        assert time.monotonic() - started < 10
        assert r.status_code == 413, r.text
        assert r.text == (f"The archive's files hold more than {CONSTRAINTS.max_extracted_bytes}"
                          " bytes: split it into smaller archives.")
        _nothing_written(swift, c)


def test_sparse_members_are_refused(swift: httpx.Client) -> None:
    """GNU sparse members (PAX 0.1 map here) declare a real size their data does not hold."""
    c = unique("sparse")
    info = _member(f"{c}/disk.img", 1)
    info.pax_headers = {"GNU.sparse.map": "0,1", "GNU.sparse.size": str(TB)}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(b"x"))
    assert len(buf.getvalue()) < 1024
    r = _extract(swift, buf.getvalue())
    assert r.status_code == 400, r.text
    assert r.text == (f"Invalid Tar File: '{c}/disk.img' is a sparse file; archive it "
                      "without --sparse.")
    _nothing_written(swift, c)


def test_huge_pax_header_is_refused(swift: httpx.Client) -> None:
    """tarfile reads a pax header whole: one declaring 1 TB is refused, not read."""
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type = tarfile.XHDTYPE
    pax.size = TB
    body = gzip.compress(pax.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
                         + b"\0" * 4096)
    r = _extract(swift, body)
    assert r.status_code == 400, r.text
    assert r.text.startswith("Invalid Tar File: a header or read larger than")


def test_more_containers_than_info_advertises(swift: httpx.Client) -> None:
    limit = httpx.get(str(swift.base_url).split("/v1/")[0] + "/info").json()[
        "bulk_upload"]["max_containers_per_extraction"]
    assert limit == CONSTRAINTS.max_containers_per_extraction
    prefix = unique("many")
    r = _extract(swift, _headers_only(*[_member(f"{prefix}-{i}/o", 0)
                                        for i in range(limit + 1)]))
    assert r.status_code == 400, r.text
    assert r.text == f"More than {limit} containers to create from tar."
    _nothing_written(swift, f"{prefix}-0")
