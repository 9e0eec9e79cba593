"""Server list pagination: every page, under every kind of sort key, is the full listing cut
at its markers (pages read in SQL and pages cut in Python agree)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.conftest import connect, unique
from tests.api.test_compute import nova, wait
from tests.support.server import RunningCloud


@pytest.fixture(scope="module")
def servers(cloud: RunningCloud) -> Iterator[list[str]]:
    image = connect(cloud).image.create_image(
        name=unique("page-img"), data=b"\0" * 4096, disk_format="raw",
        container_format="bare", visibility="public")
    image_id = str(image.id)
    conn = connect(cloud, "demo")
    prefix = unique("page")
    made = []
    for i in range(7):  # names repeat: sorting by name alone leaves ties to uuid
        s = conn.compute.create_server(name=f"{prefix}-{i % 3}", image_id=image_id,
                                       flavor_id="42", networks="none")
        made.append(s.id)
    for sid in made:
        wait(conn, sid, "ACTIVE")
    yield made
    for sid in made:
        nova(cloud, "DELETE", f"/servers/{sid}", who="demo")
    connect(cloud).image.delete_image(image_id)


def _pages(cloud: RunningCloud, query: str, limit: int) -> list[str]:
    ids: list[str] = []
    marker = ""
    for _ in range(20):
        r = nova(cloud, "GET", f"/servers/detail?limit={limit}{query}{marker}", who="demo")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        ids += [s["id"] for s in body["servers"]]
        if "servers_links" not in body:
            return ids
        marker = f"&marker={ids[-1]}"
    raise AssertionError("more pages than servers")


@pytest.mark.parametrize("query", [
    "",  # created_at desc, then uuid
    "&sort_key=display_name&sort_dir=asc",
    "&sort_key=display_name&sort_dir=desc&sort_key=created_at&sort_dir=asc",
    "&sort_key=host",  # may be NULL: paged in Python
    "&status=ACTIVE",  # a filter left to Python
])
def test_pages_are_the_listing_cut_at_markers(cloud: RunningCloud, servers: list[str],
                                              query: str) -> None:
    r = nova(cloud, "GET", f"/servers/detail?{query.lstrip('&')}", who="demo")
    everything = [s["id"] for s in r.json()["servers"]]
    assert set(servers) <= set(everything)
    for limit in (1, 2, 3, len(everything)):
        assert _pages(cloud, query, limit) == everything, (query, limit)


def test_unknown_or_foreign_marker_is_400(cloud: RunningCloud, servers: list[str]) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    assert nova(cloud, "GET", f"/servers?limit=2&marker={missing}",
                who="demo").status_code == 400
    # a server of another project is no marker for this one
    assert nova(cloud, "GET", f"/servers?limit=2&marker={servers[0]}",
                who="admin").status_code == 400


def test_a_page_without_limit_stops_at_max_limit(cloud: RunningCloud, servers: list[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Nova's [api] max_limit: no ``limit`` gives at most that many, and a next link."""
    from onestack.api.compute import servers as server_api

    monkeypatch.setattr(server_api, "MAX_LIMIT", 3)
    r = nova(cloud, "GET", "/servers/detail", who="demo")
    body = r.json()
    assert len(body["servers"]) == 3
    assert body["servers_links"][0]["rel"] == "next"
    href = body["servers_links"][0]["href"]
    assert "limit" not in href
    rest = nova(cloud, "GET", "/servers/detail?" + href.split("?", 1)[1], who="demo").json()
    everything = nova(cloud, "GET", "/servers/detail?limit=1000", who="demo").json()
    assert [s["id"] for s in body["servers"] + rest["servers"]][:6] == \
        [s["id"] for s in everything["servers"]][:6]
