"""A header-signed S3 Signature V2 request is good for 15 minutes around its Date, as in S3:
a captured request replayed later is RequestTimeTooSkewed (403), and one without a date is
AccessDenied."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from email.utils import formatdate

import httpx
import pytest

from tests.security.conftest import Personas


@pytest.fixture(scope="module")
def signer(personas: Personas) -> tuple[str, str]:
    owner = personas.owner
    cred = owner.ok("POST", f"/identity/v3/users/{owner.user_id}/credentials/OS-EC2",
                    {"tenant_id": owner.project_id})["credential"]
    return cred["access"], cred["secret"]


def _v2(secret: str, headers: dict[str, str]) -> str:
    """AWS's V2 string to sign for GET / (the Date line empty when x-amz-date is sent)."""
    amz = "".join(f"{k.lower()}:{v}\n" for k, v in sorted(headers.items())
                  if k.lower().startswith("x-amz-"))
    date = "" if "x-amz-date" in headers else headers.get("Date", "")
    text = f"GET\n\n\n{date}\n{amz}/"
    mac = hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def _list_buckets(personas: Personas, signer: tuple[str, str],
                  headers: dict[str, str]) -> httpx.Response:
    access, secret = signer
    return httpx.get(f"{personas.owner.cloud.base_url}/s3/", headers={
        **headers, "Authorization": f"AWS {access}:{_v2(secret, headers)}"})


def _code(r: httpx.Response) -> str:
    return r.text.split("<Code>")[1].split("</Code>")[0]


def test_a_fresh_v2_request_is_served(personas: Personas,
                                      signer: tuple[str, str]) -> None:
    r = _list_buckets(personas, signer, {"Date": formatdate(usegmt=True)})
    assert r.status_code == 200, r.text
    r = _list_buckets(personas, signer,
                      {"x-amz-date": formatdate(time.time() - 600, usegmt=True)})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("header", ["Date", "x-amz-date"])
@pytest.mark.parametrize("offset", [-20 * 60, 20 * 60, -30 * 24 * 3600])
def test_a_replayed_v2_request_is_too_skewed(personas: Personas,
                                             signer: tuple[str, str],
                                             header: str, offset: int) -> None:
    r = _list_buckets(personas, signer, {header: formatdate(time.time() + offset,
                                                            usegmt=True)})
    assert r.status_code == 403, r.text
    assert _code(r) == "RequestTimeTooSkewed"


def test_a_v2_request_without_a_date_is_refused(personas: Personas,
                                                signer: tuple[str, str]) -> None:
    for headers in ({}, {"Date": "yesterday"}):
        r = _list_buckets(personas, signer, headers)
        assert r.status_code == 403, r.text
        assert _code(r) == "AccessDenied"
        assert "valid Date or x-amz-date" in r.text
