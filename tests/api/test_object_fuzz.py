"""Hypothesis-generated requests against every object-storage route: never a 5xx."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onestack.api.object_store.routes import ROUTES
from tests.support.server import RunningCloud

header_values = st.one_of(
    st.sampled_from(["", "*", "0", "-1", "1", "abc", ".r:*", ".r:", ".rlistings", ".x:y",
                     "a:b,c", "bytes=0-1", "bytes=-0", "bytes=5-2", "bytes=0-1,3-", "c/o",
                     "/c/o", "c", "9999999999999999999999", "Mon, 01 Jan 2001 00:00:00 GMT",
                     "true", "Policy-0", "gold", "d41d8cd98f00b204e9800998ecf8427e",
                     "multipart/form-data; boundary=b", "multipart/form-data"]),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=30))
HEADERS = ["X-Container-Read", "X-Container-Write", "Range", "If-Match", "If-None-Match",
           "If-Modified-Since", "If-Unmodified-Since", "X-Copy-From", "Destination",
           "X-Delete-At", "X-Delete-After", "X-Object-Manifest", "X-Container-Meta-Quota-Bytes",
           "X-Container-Meta-Quota-Count", "X-Account-Meta-Quota-Bytes", "Content-Type", "ETag",
           "X-Versions-Location", "X-History-Location", "X-Storage-Policy",
           "X-Object-Meta-A", "X-Remove-Container-Meta-A", "X-Fresh-Metadata",
           "X-Account-Quota-Count", "Destination-Account", "X-Copy-From-Account"]
QUERY = ["format", "limit", "marker", "end_marker", "prefix", "delimiter", "reverse", "path",
         "multipart-manifest", "temp_url_sig", "temp_url_expires", "temp_url_prefix",
         "extract-archive", "bulk-delete", "inline", "filename"]
query_values = st.one_of(st.sampled_from(["", "json", "xml", "plain", "put", "get", "delete",
                                          "raw", "tar", "tar.gz", "10001", "-1", "/", "a" * 40,
                                          "2000000000", "1"]),
                         st.text(max_size=12))
segment = st.one_of(st.sampled_from(["c", "fuzz", "x" * 300, "a b", "..", "%2F", "é"]),
                    st.text(alphabet="abc/._-", min_size=1, max_size=12))
bodies = st.one_of(st.binary(max_size=64),
                   st.sampled_from([b'[{"path": "/fuzz/a"}]', b"[]", b'[{"path": 1}]',
                                    b"fuzz/a\nfuzz\n", b'{"x": 1}',
                                    b'--b\r\nContent-Disposition: form-data; name="expires"'
                                    b'\r\n\r\nx\r\n--b\r\nContent-Disposition: form-data; '
                                    b'name="f"; filename="a"\r\n\r\nhi\r\n--b--\r\n']))
METHODS = sorted({r.method for r in ROUTES} | {"HEAD"})


def fill(path: str, account: str, values: list[str]) -> str:
    it = iter(values)
    path = path.replace("{account}", account)
    return re.sub(r"{\w+(:path)?}", lambda _m: next(it, "x"), path)


@pytest.fixture(scope="module")
def auth(cloud: RunningCloud) -> dict[str, str]:
    token = cloud.admin_token()
    base = f"{cloud.base_url}/object-storage/v1/AUTH_{cloud.accounts['admin'].project_id}"
    httpx.put(f"{base}/fuzz", headers={"X-Auth-Token": token})
    httpx.put(f"{base}/fuzz/a", content=b"abc", headers={"X-Auth-Token": token})
    return {"X-Auth-Token": token}


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(ROUTES), method=st.sampled_from(METHODS),
       parts=st.lists(segment, max_size=3),
       headers=st.dictionaries(st.sampled_from(HEADERS), header_values, max_size=4),
       query=st.dictionaries(st.sampled_from(QUERY), query_values, max_size=3),
       body=bodies, who=st.sampled_from(["admin", "anonymous", "other-account"]))
def test_object_routes_never_500(cloud: RunningCloud, auth: dict[str, str], route: Any,
                                 method: str, parts: list[str], headers: dict[str, str],
                                 query: dict[str, str], body: bytes, who: str) -> None:
    account = "AUTH_" + (cloud.accounts["admin"].project_id if who != "other-account"
                         else "someoneelse")
    url = cloud.base_url + "/object-storage" + fill(route.path, account, parts)
    sent = dict(headers)
    if who != "anonymous":
        sent.update(auth)
    r = httpx.request(method, url, params=query, headers=sent, content=body, timeout=30)
    assert r.status_code < 500, (method, url, query, headers, r.text)
