"""Object-store quotas hold under concurrent uploads: with a container byte quota that has
room for N objects, 4N uploads fired at once store at most N; the others get Swift's 413,
on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.api.conftest import cloud, pg_server, unique  # noqa: F401  (the API suite's clouds)
from tests.support.server import RunningCloud

N, SIZE = 3, 64 * 1024


@pytest.fixture
def swift(cloud: RunningCloud) -> Iterator[httpx.Client]:  # noqa: F811
    acct = cloud.accounts["demo"]
    with httpx.Client(base_url=f"{cloud.base_url}/object-storage/v1/AUTH_{acct.project_id}",
                      headers={"X-Auth-Token": cloud.token("demo")}, timeout=60) as client:
        yield client


@pytest.mark.parametrize("quota", ["X-Container-Meta-Quota-Bytes",
                                   "X-Container-Meta-Quota-Count"])
def test_concurrent_uploads_do_not_overshoot_a_quota(swift: httpx.Client, quota: str) -> None:
    c = unique("quota")
    value = str(N * SIZE) if quota.endswith("Bytes") else str(N)
    assert swift.put(f"/{c}", headers={quota: value}).status_code == 201

    def upload(i: int) -> httpx.Response:
        return swift.put(f"/{c}/o{i}", content=b"x" * SIZE)

    with ThreadPoolExecutor(max_workers=4 * N) as pool:
        results = list(pool.map(upload, range(4 * N)))
    codes = sorted(r.status_code for r in results)
    assert set(codes) <= {201, 413}, codes
    refused = [r for r in results if r.status_code == 413]
    assert all(r.text == "Upload exceeds quota." for r in refused)
    head = swift.head(f"/{c}")
    stored = int(head.headers["x-container-object-count"])
    assert stored == codes.count(201) <= N
    assert int(head.headers["x-container-bytes-used"]) <= N * SIZE
    for i in range(4 * N):
        swift.delete(f"/{c}/o{i}")
    swift.delete(f"/{c}")
