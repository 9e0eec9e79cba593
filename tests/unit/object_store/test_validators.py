"""Validators in the object store and S3 match the whole value: ``$`` also matches before a
trailing newline, so each is a fullmatch and a name with one is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from onestack.api.common.request import validate
from onestack.api.identity import schemas as identity_schemas
from onestack.api.s3.buckets import check_bucket_name
from onestack.core.object_store.s3 import sigv4
from onestack.core.object_store.s3.errors import (
    AuthorizationHeaderMalformed,
    InvalidBucketName,
)
from onestack.core.object_store.s3.multipart import _ID, _MARKER
from onestack.drivers.blob.filesystem import FilesystemBlobStore
from onestack.errors import ValidationError


def test_blob_keys(tmp_path: Path) -> None:
    store = FilesystemBlobStore(str(tmp_path))
    assert store.path("AUTH_p/abc/0123") is not None
    for bad in ("AUTH_p/abc\n", "AUTH_p/abc/\n0123", "../x", "a//b"):
        with pytest.raises(ValueError, match="unsafe blob key"):
            store.path(bad)


def test_bucket_names() -> None:
    check_bucket_name("my-bucket.1")
    for bad in ("my-bucket\n", "10.0.0.1", "10.0.0.1\n", "a"):
        with pytest.raises(InvalidBucketName):
            check_bucket_name(bad)


def test_upload_ids_and_markers() -> None:
    good = "0123456789abcdef0123456789abcdef"
    assert _ID.fullmatch(good) and not _ID.fullmatch(good + "\n")
    assert _MARKER.fullmatch(f"k/{good}") and not _MARKER.fullmatch(f"k/{good}\n")


def test_sigv4_credential_scope() -> None:
    cred = "AKID/20260101/us-east-1/s3/aws4_request"
    assert sigv4._scope(cred, AuthorizationHeaderMalformed)[0] == "AKID"
    with pytest.raises(AuthorizationHeaderMalformed):
        sigv4._scope(cred + "\n", AuthorizationHeaderMalformed)


def test_identity_id_strings() -> None:
    body = {"endpoint": {"interface": "public", "url": "http://x", "service_id": "abc"}}
    validate(body, identity_schemas.endpoint_create)
    body["endpoint"]["service_id"] = "abc\n"
    with pytest.raises(ValidationError, match="service_id"):
        validate(body, identity_schemas.endpoint_create)
