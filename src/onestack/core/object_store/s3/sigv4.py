"""AWS request signatures: Signature Version 4 (Authorization header and presigned query,
aws-chunked bodies) and the older Version 2, checked against an EC2 secret.

Everything here is pure: the API layer hands over the request as it was sent
(method, percent-encoded path, decoded query pairs, headers) and gets back who signed it,
or an S3 error.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote

from onestack.core.object_store.s3.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    IncompleteBody,
    InvalidArgument,
    InvalidRequest,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
    XAmzContentSHA256Mismatch,
)

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_PREFIX = "STREAMING-"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW = 15 * 60
MAX_PRESIGN = 7 * 24 * 3600
# Sub-resources that are part of a Signature Version 2 canonical resource.
V2_SUBRESOURCES = frozenset((
    "acl", "cors", "delete", "lifecycle", "location", "logging", "notification", "partNumber",
    "policy", "requestPayment", "response-cache-control", "response-content-disposition",
    "response-content-encoding", "response-content-language", "response-content-type",
    "response-expires", "restore", "tagging", "torrent", "uploadId", "uploads", "versionId",
    "versioning", "versions", "website"))
_CRED = re.compile(r"([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request")
_SPACES = re.compile(r" +")


@dataclass
class SignedRequest:
    """A request as it came in: the path still percent-encoded, header names lower case."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: Mapping[str, str]
    prefix: str = ""  # where the API is mounted (/s3): V2 signers may leave it out

    def param(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None


@dataclass
class Signature:
    """A parsed signature: what to look the secret up by and what to check."""

    version: int  # 2 or 4
    access: str
    signature: str
    presigned: bool
    # v4 only
    amz_date: str = ""
    scope: str = ""  # date/region/service/aws4_request
    signed_headers: tuple[str, ...] = ()
    payload: str = UNSIGNED
    expires: int = 0


def _fail_header(message: str) -> Exception:
    return AuthorizationHeaderMalformed(message)


def parse(req: SignedRequest) -> Signature | None:
    """The request's signature; None when it carries none (an anonymous request)."""
    header = req.headers.get("authorization")
    if header:
        if header.startswith(ALGORITHM + " "):
            return _parse_v4_header(req, header[len(ALGORITHM) + 1:])
        if header.startswith("AWS "):
            access, sep, sig = header[4:].strip().rpartition(":")
            if not sep or not access or not sig:
                raise _fail_header("The authorization header is malformed.")
            _check_v2_date(req)
            return Signature(2, access, sig, False)
        raise InvalidArgument("Unsupported Authorization Type")
    if req.param("X-Amz-Algorithm") is not None:
        return _parse_v4_query(req)
    if req.param("AWSAccessKeyId") is not None:
        key, signed, expires = (req.param("AWSAccessKeyId"), req.param("Signature"),
                                req.param("Expires"))
        if not key or not signed or not expires or not expires.isdigit():
            raise AccessDenied("Query-string authentication requires the Signature, "
                               "Expires and AWSAccessKeyId parameters")
        if int(expires) < time.time():
            raise AccessDenied("Request has expired")
        return Signature(2, key, signed, True, expires=int(expires))
    return None


def _check_v2_date(req: SignedRequest) -> None:
    """A header-signed V2 request is good for 15 minutes around its Date (or x-amz-date),
    as in S3: a captured request cannot be replayed later."""
    raw = req.headers.get("x-amz-date") or req.headers.get("date")
    stamp = _from_http_date(raw)
    if not stamp and raw:
        with contextlib.suppress(AccessDenied):
            stamp = dt.datetime.fromtimestamp(_parse_amz_date(raw.strip(), AccessDenied),
                                              dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    if not stamp:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    if abs(time.time() - _parse_amz_date(stamp, AccessDenied)) > MAX_SKEW:
        raise RequestTimeTooSkewed()


def _scope(credential: str, error: type[Exception]) -> tuple[str, str, str]:
    m = _CRED.fullmatch(credential)
    if m is None:
        raise error(f"Error parsing the X-Amz-Credential parameter: {credential!r}")
    access, date, region, service = m.groups()
    return access, date, f"{date}/{region}/{service}/aws4_request"


def _parse_v4_header(req: SignedRequest, rest: str) -> Signature:
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    if not {"Credential", "SignedHeaders", "Signature"} <= set(fields):
        raise _fail_header("The authorization header is malformed; it must name Credential, "
                           "SignedHeaders and Signature.")
    access, date, scope = _scope(fields["Credential"], AuthorizationHeaderMalformed)
    amz_date = req.headers.get("x-amz-date") or _from_http_date(req.headers.get("date"))
    if not amz_date:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    if amz_date[:8] != date:
        raise _fail_header(f"The authorization header is malformed; Invalid credential "
                           f"date. Date is not the same as X-Amz-Date: {date}.")
    when = _parse_amz_date(amz_date, AccessDenied)
    if abs(time.time() - when) > MAX_SKEW:
        raise RequestTimeTooSkewed()
    payload = req.headers.get("x-amz-content-sha256")
    if payload is None:
        raise InvalidRequest("Missing required header for this request: "
                             "x-amz-content-sha256")
    return Signature(4, access, fields["Signature"], False, amz_date, scope,
                     tuple(fields["SignedHeaders"].split(";")), payload)


def _parse_v4_query(req: SignedRequest) -> Signature:
    err = AuthorizationQueryParametersError
    if req.param("X-Amz-Algorithm") != ALGORITHM:
        raise err("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
    values = {k: req.param(k) for k in ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                                         "X-Amz-SignedHeaders", "X-Amz-Signature")}
    missing = [k for k, v in values.items() if not v]
    if missing:
        raise err("Query-string authentication version 4 requires the X-Amz-Algorithm, "
                  "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                  "X-Amz-Expires parameters.")
    access, date, scope = _scope(str(values["X-Amz-Credential"]), err)
    amz_date = str(values["X-Amz-Date"])
    when = _parse_amz_date(amz_date, err)
    raw_expires = str(values["X-Amz-Expires"])
    if not raw_expires.isdigit():
        raise err("X-Amz-Expires should be a number")
    expires = int(raw_expires)
    if expires > MAX_PRESIGN:
        raise err("X-Amz-Expires must be less than a week (in seconds) that is 604800")
    if amz_date[:8] != date:
        raise err("Invalid credential date. Date is not the same as X-Amz-Date.")
    if time.time() > when + expires:
        raise AccessDenied("Request has expired")
    if when - time.time() > MAX_SKEW:
        raise AccessDenied("Request is not valid yet")
    return Signature(4, access, str(values["X-Amz-Signature"]), True, amz_date, scope,
                     tuple(str(values["X-Amz-SignedHeaders"]).split(";")), UNSIGNED, expires)


def _parse_amz_date(value: str, error: type[Exception]) -> float:
    try:
        return dt.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=dt.UTC).timestamp()
    except ValueError as exc:
        raise error(f"Invalid date: {value!r}") from exc


def _from_http_date(value: str | None) -> str:
    if not value:
        return ""
    try:
        return parsedate_to_datetime(value).astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    except (TypeError, ValueError, IndexError, OverflowError):
        return ""


# --- checking ------------------------------------------------------------------------------
def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret: str, scope: str) -> bytes:
    date, region, service, _ = scope.split("/")
    key = _hmac(("AWS4" + secret).encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def _enc(value: str) -> str:
    return quote(value, safe="-_.~")


def canonical_request(req: SignedRequest, sig: Signature, path: str) -> str:
    pairs = [(_enc(k), _enc(v)) for k, v in req.query
             if not (sig.presigned and k == "X-Amz-Signature")]
    query = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    headers = "".join(
        f"{name}:{_SPACES.sub(' ', req.headers.get(name, '').strip())}\n"
        for name in sig.signed_headers)
    return "\n".join([req.method, path, query, headers, ";".join(sig.signed_headers),
                      sig.payload])


def string_to_sign(sig: Signature, canonical: str) -> str:
    return "\n".join([ALGORITHM, sig.amz_date, sig.scope,
                      hashlib.sha256(canonical.encode()).hexdigest()])


def _v2_string(req: SignedRequest, sig: Signature, path: str) -> str:
    h = req.headers
    amz = sorted((k, v) for k, v in h.items() if k.startswith("x-amz-"))
    date = str(sig.expires) if sig.presigned else ("" if "x-amz-date" in h
                                                   else h.get("date", ""))
    subs = sorted((k, v) for k, v in req.query if k in V2_SUBRESOURCES)
    resource = path
    if subs:
        resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in subs)
    lines = [req.method, h.get("content-md5", ""), h.get("content-type", ""), date]
    return "\n".join(lines) + "\n" + "".join(f"{k}:{v.strip()}\n" for k, v in amz) + resource


def verify(req: SignedRequest, sig: Signature, secret: str) -> None:
    """SignatureDoesNotMatch unless the request was signed with ``secret``."""
    if sig.version == 2:
        paths = [req.path]
        if req.prefix and req.path.startswith(req.prefix + "/"):
            paths.append(req.path[len(req.prefix):])  # botocore signs the path below it
        for path in paths:
            mac = hmac.new(secret.encode(), _v2_string(req, sig, path).encode(),
                           hashlib.sha1).digest()
            if hmac.compare_digest(base64.b64encode(mac).decode(), sig.signature):
                return
        raise SignatureDoesNotMatch()
    if "host" not in sig.signed_headers:
        raise AccessDenied("The host header must be signed.")
    key = signing_key(secret, sig.scope)
    # The path as sent; clients that encode differently from S3's canonical form are
    # retried with the canonical encoding of the decoded path.
    for path in dict.fromkeys([req.path or "/", quote(unquote(req.path), safe="/~") or "/"]):
        wanted = hmac.new(key, string_to_sign(sig, canonical_request(req, sig, path)).encode(),
                          hashlib.sha256).hexdigest()
        if hmac.compare_digest(wanted, sig.signature):
            return
    raise SignatureDoesNotMatch()


# --- bodies --------------------------------------------------------------------------------
async def check_sha256(body: AsyncIterator[bytes], wanted: str) -> AsyncIterator[bytes]:
    """Pass the body through; XAmzContentSHA256Mismatch at its end when it differs from
    the signed hash (the write is then abandoned before anything is committed)."""
    digest = hashlib.sha256()
    async for chunk in body:
        digest.update(chunk)
        yield chunk
    if digest.hexdigest() != wanted.lower():
        raise XAmzContentSHA256Mismatch()


async def decode_chunked(body: AsyncIterator[bytes], sig: Signature, secret: str | None
                         ) -> AsyncIterator[bytes]:
    """aws-chunked bodies: ``<hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n`` ...,
    a zero-size chunk, then optional trailers. Chunk signatures are checked when the
    payload says it is signed (STREAMING-AWS4-HMAC-SHA256-PAYLOAD...).

    A chunk's bytes are passed on as they arrive (memory stays at one network read, however
    large a chunk the client declares) and hashed on the way; its signature is checked when
    the chunk ends, so a bad chunk fails the body before the object is committed."""
    signed = secret is not None and sig.payload.startswith(STREAMING)
    key = signing_key(secret, sig.scope) if signed and secret else b""
    previous = sig.signature
    buf = bytearray()
    it = body.__aiter__()

    async def more() -> bool:
        try:
            buf.extend(await it.__anext__())
        except StopAsyncIteration:
            return False
        return True

    while True:
        while b"\r\n" not in buf:
            if len(buf) > 4096 or not await more():
                raise IncompleteBody("The aws-chunked body ended inside a chunk header.")
        cut = buf.find(b"\r\n")
        line = bytes(buf[:cut])
        del buf[:cut + 2]
        size_hex, _, ext = line.decode("latin-1").partition(";")
        try:
            size = int(size_hex.strip(), 16)
        except ValueError as exc:
            raise IncompleteBody("Bad aws-chunked chunk size.") from exc
        digest = hashlib.sha256()
        left = size
        while left:
            if not buf and not await more():
                raise IncompleteBody()
            piece = bytes(buf[:left])
            del buf[:len(piece)]
            left -= len(piece)
            digest.update(piece)
            yield piece
        if signed:
            chunk_sig = ext.partition("chunk-signature=")[2].strip()
            sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", sig.amz_date, sig.scope, previous,
                             EMPTY_SHA256, digest.hexdigest()])
            mac = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(mac, chunk_sig):
                raise SignatureDoesNotMatch()
            previous = chunk_sig
        if size == 0:
            return  # trailers (checksums) are not kept
        while len(buf) < 2:
            if not await more():
                raise IncompleteBody()
        if buf[:2] != b"\r\n":
            raise IncompleteBody("An aws-chunked chunk is not followed by CRLF.")
        del buf[:2]
