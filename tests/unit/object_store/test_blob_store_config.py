"""[object_store] picks the blob store; bad settings stop start-up with the option named. The
s3 store's signer gives AWS's documented example signature."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from onestack.config import Settings, load_settings
from onestack.core.object_store.service import blob_store
from onestack.drivers.blob import FilesystemBlobStore, S3BlobStore, sigv4
from onestack.errors import ConfigError


def _settings(tmp_path: Path, **values: object) -> Settings:
    toml = tmp_path / "onestack.toml"
    toml.write_text("[object_store]\n" + "".join(
        f"{k} = {v!r}\n".replace("'", '"') for k, v in values.items()))
    return load_settings(toml, data_dir=tmp_path)


def test_file_is_the_default(tmp_path: Path) -> None:
    store = blob_store(load_settings(None, data_dir=tmp_path))
    assert isinstance(store, FilesystemBlobStore) and store.root == tmp_path / "objects"


def test_s3_from_the_config_file(tmp_path: Path) -> None:
    store = blob_store(_settings(
        tmp_path, blob_store="s3", s3_endpoint="http://rgw:7480", s3_bucket="objs",
        s3_access_key="AK", s3_secret_key="SK", s3_region="default"))
    assert isinstance(store, S3BlobStore)
    assert (store.endpoint, store.bucket, store.region, store.part_size) == (
        "http://rgw:7480", "objs", "default", 16 * 1024 * 1024)


@pytest.mark.parametrize(("values", "named"), [
    ({"blob_store": "swift"}, "blob_store"),
    ({"blob_store": "s3", "s3_endpoint": "http://rgw"}, "s3_bucket, s3_access_key"),
    ({"blob_store": "s3", "s3_endpoint": "http://rgw", "s3_bucket": "b", "s3_access_key": "a",
      "s3_secret_key": "s", "s3_part_size": 1024}, "part_size"),
])
def test_bad_settings_name_the_option(tmp_path: Path, values: dict[str, object],
                                      named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        blob_store(_settings(tmp_path, **values))


def test_signature_of_aws_documented_example() -> None:
    """AWS's Signature V4 example for S3 (GET /test.txt with a Range, header-based auth)."""
    signed = sigv4.sign(
        "GET", "examplebucket.s3.amazonaws.com", "/test.txt", {}, {"range": "bytes=0-9"},
        access_key="AKIAIOSFODNN7EXAMPLE",
        secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region="us-east-1",
        payload="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        now=dt.datetime(2013, 5, 24, tzinfo=dt.UTC))
    assert signed["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
