"""AWS signatures against AWS's own published examples (Signature V4 GET, and the signed
aws-chunked upload of 66,560 bytes of "a")."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from onestack.core.object_store.s3 import sigv4
from onestack.core.object_store.s3.errors import (
    AuthorizationHeaderMalformed,
    SignatureDoesNotMatch,
)
from onestack.core.object_store.s3.sigv4 import Signature, SignedRequest

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SCOPE = "20130524/us-east-1/s3/aws4_request"
DATE = "20130524T000000Z"


def test_v4_get_example() -> None:
    req = SignedRequest("GET", "/test.txt", [], {
        "host": "examplebucket.s3.amazonaws.com", "range": "bytes=0-9",
        "x-amz-content-sha256": sigv4.EMPTY_SHA256, "x-amz-date": DATE})
    sig = Signature(4, "AKIAIOSFODNN7EXAMPLE",
                    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", False,
                    DATE, SCOPE, ("host", "range", "x-amz-content-sha256", "x-amz-date"),
                    sigv4.EMPTY_SHA256)
    sigv4.verify(req, sig, SECRET)
    with pytest.raises(SignatureDoesNotMatch):
        sigv4.verify(req, sig, SECRET + "x")
    req.headers = {**req.headers, "range": "bytes=0-10"}
    with pytest.raises(SignatureDoesNotMatch):
        sigv4.verify(req, sig, SECRET)


CHUNKS = [(65536, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"),
          (1024, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"),
          (0, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9")]
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"


def chunked_body(corrupt: bool = False) -> bytes:
    out = b""
    for size, signature in CHUNKS:
        data = bytearray(b"a" * size)
        if corrupt and size == 1024:
            data[10] = ord("b")
        out += f"{size:x};chunk-signature={signature}\r\n".encode() + bytes(data) + b"\r\n"
    return out


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def decode(data: bytes, piece: int, secret: str | None = SECRET) -> bytes:
    sig = Signature(4, "AKIAIOSFODNN7EXAMPLE", SEED, False, DATE, SCOPE, (),
                    sigv4.STREAMING)
    return b"".join([c async for c in sigv4.decode_chunked(pieces(data, piece), sig, secret)])


@pytest.mark.parametrize("piece", [1, 7, 4096, 100000])
async def test_signed_chunked_example(piece: int) -> None:
    assert await decode(chunked_body(), piece) == b"a" * 66560


async def test_signed_chunked_tampered() -> None:
    with pytest.raises(SignatureDoesNotMatch):
        await decode(chunked_body(corrupt=True), 4096)
    # Unsigned framing (STREAMING-UNSIGNED-PAYLOAD-TRAILER) only strips the chunks.
    assert await decode(chunked_body(corrupt=True), 4096, None) != b"a" * 66560


def test_parse_errors() -> None:
    def req(auth: str) -> SignedRequest:
        return SignedRequest("GET", "/", [], {"authorization": auth, "x-amz-date": DATE,
                                              "x-amz-content-sha256": "UNSIGNED-PAYLOAD"})

    with pytest.raises(AuthorizationHeaderMalformed):
        sigv4.parse(req("AWS4-HMAC-SHA256 Credential=x"))
    with pytest.raises(AuthorizationHeaderMalformed):
        sigv4.parse(req("AWS4-HMAC-SHA256 Credential=a/2013/us/s3/aws4_request, "
                        "SignedHeaders=host, Signature=x"))
    assert sigv4.parse(SignedRequest("GET", "/", [], {})) is None
