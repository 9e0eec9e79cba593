"""AWS Signature Version 4 for requests Onestack sends to an S3 service (the client side;
``core/object_store/s3/sigv4.py`` checks the signatures of requests Onestack receives)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from urllib.parse import quote

UNSIGNED = "UNSIGNED-PAYLOAD"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def canonical_query(params: dict[str, str]) -> str:
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                    for k, v in sorted(params.items()))


def sign(method: str, host: str, path: str, params: dict[str, str], headers: dict[str, str],
         *, access_key: str, secret_key: str, region: str,
         payload: str = UNSIGNED, now: dt.datetime | None = None) -> dict[str, str]:
    """The headers to send: ``headers`` plus Host, x-amz-date, x-amz-content-sha256 and
    Authorization. ``path`` is already percent-encoded; ``payload`` is the body's sha256
    (hex) or UNSIGNED-PAYLOAD."""
    when = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    out = {**headers, "host": host, "x-amz-date": when, "x-amz-content-sha256": payload}
    signed = sorted(k.lower() for k in out)
    lower = {k.lower(): " ".join(str(v).split()) for k, v in out.items()}
    canonical = "\n".join([method, path, canonical_query(params),
                           "".join(f"{k}:{lower[k]}\n" for k in signed),
                           ";".join(signed), payload])
    scope = f"{when[:8]}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", when, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), when[:8]), region), "s3"),
                "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                            f"SignedHeaders={';'.join(signed)}, Signature={signature}")
    return out
