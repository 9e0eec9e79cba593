"""FormPost: HTML-form uploads signed with temp-URL keys (Swift's formpost middleware)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.api.conftest import unique
from tests.support.server import RunningCloud

BOUNDARY = "----onestackform"


def form(fields: dict[str, str], files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    out: list[bytes] = []
    for key, value in fields.items():
        out += [f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{key}\"\r\n\r\n"
                f"{value}\r\n".encode()]
    for i, (name, data) in enumerate(files):
        out += [f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file{i}\"; "
                f"filename=\"{name}\"\r\nContent-Type: text/x-form\r\n\r\n".encode(),
                data, b"\r\n"]
    out.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={BOUNDARY}"


def signed_fields(path: str, key: str, *, redirect: str = "", max_size: int = 1 << 20,
                  max_count: int = 10, expires: int | None = None, digest: str = "sha1",
                  b64: bool = False) -> dict[str, str]:
    expires = expires or int(time.time()) + 600
    body = f"{path}\n{redirect}\n{max_size}\n{max_count}\n{expires}"
    mac = hmac.new(key.encode(), body.encode(), getattr(hashlib, digest))
    sig = (f"{digest}:" + base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")
           if b64 else mac.hexdigest())
    return {"redirect": redirect, "max_file_size": str(max_size),
            "max_file_count": str(max_count), "expires": str(expires), "signature": sig}


@pytest.fixture
def box(cloud: RunningCloud) -> Iterator[tuple[httpx.Client, str, str]]:
    """(client with a token, container, its path below the host)."""
    account = f"AUTH_{cloud.accounts['admin'].project_id}"
    path = f"/object-storage/v1/{account}"
    with httpx.Client(base_url=cloud.base_url + path, timeout=30,
                      headers={"X-Auth-Token": cloud.admin_token()}) as client:
        container = unique("forms")
        assert client.put(f"/{container}", headers={
            "X-Container-Meta-Temp-URL-Key": "ckey"}).status_code == 201
        client.post("", headers={"X-Account-Meta-Temp-URL-Key": "akey"})
        yield client, container, f"{path}/{container}"
        for name in client.get(f"/{container}").text.split():
            client.delete(f"/{container}/{name}")
        client.delete(f"/{container}")


def test_info_lists_formpost(cloud: RunningCloud) -> None:
    info = httpx.get(f"{cloud.base_url}/object-storage/info").json()
    assert "sha1" in info["formpost"]["allowed_digests"]


def test_form_upload(box: tuple[httpx.Client, str, str], cloud: RunningCloud) -> None:
    client, container, path = box
    body, ctype = form(signed_fields(f"{path}/up/", "akey"),
                       [("a.txt", b"first file"), ("b.txt", b"x" * 200_000)])
    r = httpx.post(cloud.base_url + path + "/up/", content=body,
                   headers={"Content-Type": ctype})
    assert r.status_code == 201, r.text
    assert client.get(f"/{container}/up/a.txt").content == b"first file"
    got = client.get(f"/{container}/up/b.txt")
    assert got.content == b"x" * 200_000 and got.headers["content-type"] == "text/x-form"
    # A container key, a sha256 signature in base64 form, a redirect.
    fields = signed_fields(path, "ckey", redirect="https://example.com/done", digest="sha256",
                           b64=True)
    body, ctype = form(fields, [("c.txt", b"third")])
    r = httpx.post(cloud.base_url + path, content=body, headers={"Content-Type": ctype})
    assert r.status_code == 303
    assert r.headers["location"] == "https://example.com/done?status=201&message="
    assert client.get(f"/{container}/c.txt").content == b"third"


def test_form_refusals(box: tuple[httpx.Client, str, str], cloud: RunningCloud) -> None:
    client, container, path = box
    url = cloud.base_url + path

    def post(fields: dict[str, str], files: list[tuple[str, bytes]]) -> httpx.Response:
        body, ctype = form(fields, files)
        return httpx.post(url, content=body, headers={"Content-Type": ctype})

    r = post(signed_fields(path, "akey", expires=int(time.time()) - 1), [("e", b"1")])
    assert r.status_code == 401 and "FormPost: Form Expired" in r.text
    r = post(signed_fields(path, "wrong"), [("e", b"1")])
    assert r.status_code == 401 and "FormPost: Invalid Signature" in r.text
    r = post(signed_fields(path, "akey", max_size=10), [("big", b"y" * 11)])
    assert r.status_code == 400 and "max_file_size exceeded" in r.text
    r = post(signed_fields(path, "akey", max_count=1), [("one", b"1"), ("two", b"2")])
    assert r.status_code == 400 and "Max File Count Exceeded" in r.text
    r = post(signed_fields(path, "akey"), [])
    assert r.status_code == 400 and "No Files To Process" in r.text
    bad = httpx.post(url, content=b"garbage", headers={
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert bad.status_code == 400 and "FormPost" in bad.text
    names = client.get(f"/{container}").text.split()
    assert "big" not in names and "e" not in names and "two" not in names
    assert "one" in names  # files before the one over the count are kept, as in Swift
