"""aws-chunked uploads stream: a 1 GiB body sent as one signed chunk (the declared size is
the client's to choose) keeps the server's memory flat, and a chunk whose signature does not
match is refused (S3's SignatureDoesNotMatch) without committing the object."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from onestack.core.object_store.s3 import sigv4
from tests.security.conftest import Persona, Personas

MiB = 1024 * 1024
BLOCK = bytes(range(256)) * (MiB // 256)  # 1 MiB, repeated
BUCKET = "sec-chunked"


def _rss_status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/self/status")


def _blocks(n: int) -> Iterator[bytes]:
    for _ in range(n):
        yield BLOCK


class ChunkedUpload:
    """A PUT with an aws-chunked, chunk-signed body (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)."""

    def __init__(self, p: Persona, access: str, secret: str, key: str, blocks: int) -> None:
        self.url = f"{p.cloud.base_url}/s3/{BUCKET}/{key}"
        self.blocks = blocks
        now = dt.datetime.now(dt.UTC)
        self.amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        self.scope = f"{now:%Y%m%d}/us-east-1/s3/aws4_request"
        self.key = sigv4.signing_key(secret, self.scope)
        size = blocks * MiB
        data_sig_len = len(f"{size:x};chunk-signature=") + 64 + 2 + size + 2
        end_len = len("0;chunk-signature=") + 64 + 4
        self.headers = {
            "host": urlsplit(self.url).netloc, "x-amz-date": self.amz_date,
            "x-amz-content-sha256": sigv4.STREAMING, "content-encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(size),
            "content-length": str(data_sig_len + end_len)}
        signed = sorted(self.headers)
        req = sigv4.SignedRequest("PUT", urlsplit(self.url).path, [], self.headers)
        sig = sigv4.Signature(4, access, "", False, self.amz_date, self.scope, tuple(signed),
                              sigv4.STREAMING)
        self.seed = self._mac(sigv4.string_to_sign(
            sig, sigv4.canonical_request(req, sig, req.path)))
        self.headers["authorization"] = (
            f"{sigv4.ALGORITHM} Credential={access}/{self.scope}, "
            f"SignedHeaders={';'.join(signed)}, Signature={self.seed}")

    def _mac(self, text: str) -> str:
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()

    def _chunk_sig(self, previous: str, data_sha: str) -> str:
        return self._mac("\n".join(["AWS4-HMAC-SHA256-PAYLOAD", self.amz_date, self.scope,
                                    previous, sigv4.EMPTY_SHA256, data_sha]))

    def body(self, tamper: bool = False) -> Iterator[bytes]:
        digest = hashlib.sha256()
        for block in _blocks(self.blocks):
            digest.update(block)
        first = self._chunk_sig(self.seed, digest.hexdigest())
        if tamper:
            first = first[::-1]
        yield f"{self.blocks * MiB:x};chunk-signature={first}\r\n".encode()
        yield from _blocks(self.blocks)
        yield f"\r\n0;chunk-signature={self._chunk_sig(first, sigv4.EMPTY_SHA256)}\r\n\r\n".encode()

    def send(self, tamper: bool = False) -> httpx.Response:
        return httpx.put(self.url, content=self.body(tamper), headers=self.headers, timeout=300)


@pytest.fixture(scope="module")
def keys(personas: Personas) -> tuple[str, str]:
    owner = personas.owner
    cred = owner.ok("POST", f"/identity/v3/users/{owner.user_id}/credentials/OS-EC2",
                    {"tenant_id": owner.project_id})["credential"]
    owner.ok("PUT", f"/object-storage/v1/AUTH_{owner.project_id}/{BUCKET}")
    return cred["access"], cred["secret"]


def test_a_1_gib_chunk_keeps_memory_flat(personas: Personas, keys: tuple[str, str]) -> None:
    owner = personas.owner
    upload = ChunkedUpload(owner, *keys, "big", blocks=1024)
    before = _rss_status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM starts again from VmRSS
    r = upload.send()
    grown = _rss_status("VmHWM") - before
    assert r.status_code == 200, r.text
    assert grown < 64 * MiB, f"the server's peak memory grew by {grown // MiB} MiB"
    head = owner.call("HEAD", f"/object-storage/v1/AUTH_{owner.project_id}/{BUCKET}/big")
    assert int(head.headers["content-length"]) == 1024 * MiB
    owner.call("DELETE", f"/object-storage/v1/AUTH_{owner.project_id}/{BUCKET}/big")


def test_a_bad_chunk_signature_commits_nothing(personas: Personas,
                                               keys: tuple[str, str]) -> None:
    owner = personas.owner
    r = ChunkedUpload(owner, *keys, "forged", blocks=8).send(tamper=True)
    assert r.status_code == 403, r.text
    assert "<Code>SignatureDoesNotMatch</Code>" in r.text
    path = f"/object-storage/v1/AUTH_{owner.project_id}/{BUCKET}/forged"
    assert owner.call("HEAD", path).status_code == 404
    good = ChunkedUpload(owner, *keys, "forged", blocks=8).send()
    assert good.status_code == 200, good.text
    assert owner.call("GET", path).content == BLOCK * 8
    owner.call("DELETE", path)
