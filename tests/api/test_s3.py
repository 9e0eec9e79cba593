"""The S3 API through the real boto3 client (and the aws CLI): buckets are the project's
Swift containers, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.client import BaseClient, Config
from botocore.exceptions import ClientError

from tests.api.conftest import Cli, unique
from tests.support.server import RunningCloud

MiB = 1024 * 1024


def ec2_keys(cloud: RunningCloud, who: str) -> tuple[str, str]:
    acct = cloud.accounts[who]
    r = httpx.post(f"{cloud.auth_url}/users/{acct.user_id}/credentials/OS-EC2",
                   json={"tenant_id": acct.project_id},
                   headers={"X-Auth-Token": cloud.token(who)})
    r.raise_for_status()
    cred = r.json()["credential"]
    return cred["access"], cred["secret"]


def s3_client(cloud: RunningCloud, access: str, secret: str, **config: Any) -> BaseClient:
    return boto3.client("s3", endpoint_url=f"{cloud.base_url}/s3", aws_access_key_id=access,
                        aws_secret_access_key=secret, region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}, **config))


@pytest.fixture(scope="module")
def keys(cloud: RunningCloud) -> dict[str, tuple[str, str]]:
    return {"admin": ec2_keys(cloud, "admin"), "demo": ec2_keys(cloud, "demo")}


@pytest.fixture
def s3(cloud: RunningCloud, keys: dict[str, tuple[str, str]]) -> BaseClient:
    return s3_client(cloud, *keys["admin"])


@pytest.fixture
def bucket(s3: BaseClient) -> Iterator[str]:
    name = unique("bkt")
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=item["Key"])
    for up in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=name, Key=up["Key"], UploadId=up["UploadId"])
    s3.delete_bucket(Bucket=name)


def code(err: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    resp = err.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"]


def swift(cloud: RunningCloud, who: str = "admin") -> httpx.Client:
    return httpx.Client(
        base_url=f"{cloud.base_url}/object-storage/v1/AUTH_{cloud.accounts[who].project_id}",
        headers={"X-Auth-Token": cloud.token(who)}, timeout=60)


def test_buckets_are_containers(s3: BaseClient, cloud: RunningCloud) -> None:
    name = unique("bkt")
    s3.create_bucket(Bucket=name)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=name)
    with swift(cloud) as sw:
        assert sw.head(f"/{name}").status_code == 204
        assert sw.put(f"/{name}/from-swift", content=b"hello swift").status_code == 201
    got = s3.get_object(Bucket=name, Key="from-swift")
    assert got["Body"].read() == b"hello swift"
    s3.put_object(Bucket=name, Key="from-s3", Body=b"hello s3", Metadata={"color": "blue"})
    with swift(cloud) as sw:
        r = sw.get(f"/{name}/from-s3")
        assert r.content == b"hello s3" and r.headers["x-object-meta-color"] == "blue"
    with pytest.raises(ClientError) as err:
        s3.delete_bucket(Bucket=name)
    assert code(err) == (409, "BucketNotEmpty")
    s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "from-swift"},
                                                       {"Key": "from-s3"}]})
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as err:
        s3.head_bucket(Bucket=name)
    assert code(err)[0] == 404
    with pytest.raises(ClientError) as err:
        s3.list_objects_v2(Bucket=name)
    assert code(err) == (404, "NoSuchBucket")


def test_object_round_trip(s3: BaseClient, bucket: str) -> None:
    data = os.urandom(300_000)
    put = s3.put_object(Bucket=bucket, Key="dir/a b+c.bin", Body=data,
                        ContentType="application/x-test", Metadata={"k": "v"})
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert put["ETag"] == f'"{md5}"'
    head = s3.head_object(Bucket=bucket, Key="dir/a b+c.bin")
    assert head["ContentLength"] == len(data) and head["ETag"] == f'"{md5}"'
    assert head["ContentType"] == "application/x-test" and head["Metadata"] == {"k": "v"}
    got = s3.get_object(Bucket=bucket, Key="dir/a b+c.bin", Range="bytes=100-199")
    assert got["Body"].read() == data[100:200]
    assert got["ContentRange"] == f"bytes 100-199/{len(data)}"
    tail = s3.get_object(Bucket=bucket, Key="dir/a b+c.bin", Range="bytes=-10")
    assert tail["Body"].read() == data[-10:]
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="dir/a b+c.bin", Range=f"bytes={len(data)}-")
    assert code(err) == (416, "InvalidRange")
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="dir/a b+c.bin", IfMatch='"nope"')
    assert code(err)[0] == 412
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="dir/a b+c.bin", IfNoneMatch=f'"{md5}"')
    assert code(err)[0] == 304
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="missing")
    assert code(err) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket=bucket, Key="missing")
    assert code(err)[0] == 404
    s3.delete_object(Bucket=bucket, Key="dir/a b+c.bin")
    s3.delete_object(Bucket=bucket, Key="dir/a b+c.bin")  # idempotent, as in S3
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_copy_object(s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"x" * 1000, Metadata={"a": "1"},
                  ContentType="text/plain")
    out = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert out["CopyObjectResult"]["ETag"] == s3.head_object(Bucket=bucket, Key="src")["ETag"]
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["Metadata"] == {"a": "1"} and head["ContentType"] == "text/plain"
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src",
                   MetadataDirective="REPLACE", Metadata={"b": "2"},
                   ContentType="application/json")
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["Metadata"] == {"b": "2"} and head["ContentType"] == "application/json"
    with pytest.raises(ClientError) as err:
        s3.copy_object(Bucket=bucket, Key="src", CopySource=f"{bucket}/src")
    assert code(err) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as err:
        s3.copy_object(Bucket=bucket, Key="dst2", CopySource=f"{bucket}/missing")
    assert code(err) == (404, "NoSuchKey")


def test_listing_v1_v2(s3: BaseClient, bucket: str) -> None:
    keys = ["a/1", "a/2", "b/1", "c", "d+e", "f g"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    v2 = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in v2["CommonPrefixes"]] == ["a/", "b/"]
    assert [c["Key"] for c in v2["Contents"]] == ["c", "d+e", "f g"]
    assert v2["Contents"][0]["Size"] == 1 and v2["KeyCount"] == 5
    seen = [c["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2}) for c in page.get("Contents", [])]
    assert seen == keys
    seen = [c["Key"] for page in s3.get_paginator("list_objects").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2}) for c in page.get("Contents", [])]
    assert seen == keys
    pages = list(s3.get_paginator("list_objects").paginate(
        Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1}))
    assert [p.get("CommonPrefixes", [{}])[0].get("Prefix") or p["Contents"][0]["Key"]
            for p in pages] == ["a/", "b/", "c", "d+e", "f g"]
    v1 = s3.list_objects(Bucket=bucket, Prefix="a/")
    assert [c["Key"] for c in v1["Contents"]] == ["a/1", "a/2"] and not v1["IsTruncated"]
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="c")
    assert [c["Key"] for c in after["Contents"]] == ["d+e", "f g"]
    with pytest.raises(ClientError) as err:
        s3.list_objects_v2(Bucket=bucket, MaxKeys=-1)
    assert code(err)[0] == 400


def test_multipart_upload(s3: BaseClient, bucket: str, cloud: RunningCloud) -> None:
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1234)]
    up = s3.create_multipart_upload(Bucket=bucket, Key="big", ContentType="video/x-test",
                                    Metadata={"m": "1"})
    uid = up["UploadId"]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [uid]
    etags = []
    for i, data in enumerate(parts, 1):
        etags.append(s3.upload_part(Bucket=bucket, Key="big", UploadId=uid, PartNumber=i,
                                    Body=data)["ETag"])
    listed = s3.list_parts(Bucket=bucket, Key="big", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed] == [
        (i, e, len(d)) for i, (e, d) in enumerate(zip(etags, parts, strict=True), 1)]
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 2, "ETag": etags[1]}, {"PartNumber": 1,
                                                            "ETag": etags[0]}]})
    assert code(err) == (400, "InvalidPartOrder")
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": etags[1]}]})
    assert code(err) == (400, "InvalidPart")
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="big", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": i, "ETag": e}
                                   for i, e in enumerate(etags, 1)]})
    md5s = b"".join(hashlib.md5(d, usedforsecurity=False).digest() for d in parts)
    want = f'"{hashlib.md5(md5s, usedforsecurity=False).hexdigest()}-3"'
    assert done["ETag"] == want
    head = s3.head_object(Bucket=bucket, Key="big")
    whole = b"".join(parts)
    assert head["ETag"] == want and head["ContentLength"] == len(whole)
    assert head["ContentType"] == "video/x-test" and head["Metadata"] == {"m": "1"}
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == whole
    got = s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={5 * MiB - 5}-{5 * MiB + 4}")
    assert got["Body"].read() == whole[5 * MiB - 5:5 * MiB + 5]
    listing = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(c["Key"], c["ETag"], c["Size"]) for c in listing] == [("big", want, len(whole))]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with swift(cloud) as sw:  # Swift reads it as one (static large) object
        r = sw.get(f"/{bucket}/big")
        assert r.content == whole and r.headers["x-static-large-object"] == "True"
        assert len(sw.get(f"/{bucket}+segments", params={"format": "json"}).json()) == 3
    s3.delete_object(Bucket=bucket, Key="big")
    with swift(cloud) as sw:
        assert sw.get(f"/{bucket}+segments", params={"format": "json"}).json() == []
    with pytest.raises(ClientError) as err:
        s3.list_parts(Bucket=bucket, Key="big", UploadId=uid)
    assert code(err) == (404, "NoSuchUpload")


def test_multipart_abort_and_small_part(s3: BaseClient, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=1, Body=b"x")["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=2, Body=b"y")["ETag"]
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert code(err) == (400, "EntityTooSmall")
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=uid)
    with pytest.raises(ClientError) as err:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=3, Body=b"z")
    assert code(err) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as err:
        s3.upload_part(Bucket=bucket, Key="k", UploadId="0" * 32, PartNumber=1, Body=b"z")
    assert code(err) == (404, "NoSuchUpload")


def test_managed_transfer(s3: BaseClient, bucket: str, tmp_path: Path) -> None:
    """boto3's upload_file/download_file (multipart above the threshold, parallel parts)."""
    from boto3.s3.transfer import TransferConfig

    data = os.urandom(12 * MiB + 3)
    src, dst = tmp_path / "in.bin", tmp_path / "out.bin"
    src.write_bytes(data)
    cfg = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    s3.upload_file(str(src), bucket, "managed.bin", Config=cfg)
    s3.download_file(bucket, "managed.bin", str(dst), Config=cfg)
    assert dst.read_bytes() == data
    assert s3.head_object(Bucket=bucket, Key="managed.bin")["ETag"].endswith('-3"')
    buf = io.BytesIO()
    s3.download_fileobj(bucket, "managed.bin", buf)
    assert buf.getvalue() == data


def test_presigned_urls(cloud: RunningCloud, keys: dict[str, tuple[str, str]], s3: BaseClient,
                       bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="p", Body=b"presigned")
    s3 = s3_client(cloud, *keys["admin"], signature_version="s3v4")  # v4 query signatures
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"},
                                    ExpiresIn=60)
    assert httpx.get(url).content == b"presigned"
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "q"},
                                        ExpiresIn=60)
    assert httpx.put(put_url, content=b"uploaded").status_code == 200
    assert s3.get_object(Bucket=bucket, Key="q")["Body"].read() == b"uploaded"
    bad = httpx.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"))
    assert bad.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in bad.content
    expired = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"},
                                        ExpiresIn=1)
    time.sleep(2)
    r = httpx.get(expired)
    assert r.status_code == 403 and b"<Code>AccessDenied</Code>" in r.content


def test_sigv2(cloud: RunningCloud, keys: dict[str, tuple[str, str]], bucket: str) -> None:
    v2 = s3_client(cloud, *keys["admin"], signature_version="s3")
    v2.put_object(Bucket=bucket, Key="v2", Body=b"old signatures")
    assert v2.get_object(Bucket=bucket, Key="v2")["Body"].read() == b"old signatures"
    url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "v2"})
    assert httpx.get(url).content == b"old signatures"
    bad = httpx.get(url.replace("Signature=", "Signature=A"))
    assert bad.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in bad.content


def test_bad_credentials(cloud: RunningCloud, keys: dict[str, tuple[str, str]],
                         bucket: str) -> None:
    access, secret = keys["admin"]
    with pytest.raises(ClientError) as err:
        s3_client(cloud, access, secret + "x").list_buckets()
    assert code(err) == (403, "SignatureDoesNotMatch")
    with pytest.raises(ClientError) as err:
        s3_client(cloud, "nobody", secret).list_objects_v2(Bucket=bucket)
    assert code(err) == (403, "InvalidAccessKeyId")
    r = httpx.get(f"{cloud.base_url}/s3/{bucket}")
    assert r.status_code == 403 and b"<Code>AccessDenied</Code>" in r.content
    r = httpx.get(f"{cloud.base_url}/s3/", headers={"Authorization": "AWS4-HMAC-SHA256 x"})
    assert r.status_code == 400 and b"AuthorizationHeaderMalformed" in r.content


def test_second_project_isolation(cloud: RunningCloud, keys: dict[str, tuple[str, str]],
                                  s3: BaseClient, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="secret", Body=b"admin only")
    other = s3_client(cloud, *keys["demo"])
    assert bucket not in [b["Name"] for b in other.list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as err:
        other.get_object(Bucket=bucket, Key="secret")
    assert code(err) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as err:
        other.head_bucket(Bucket=bucket)
    assert code(err)[0] == 404
    # The same name is another bucket in the other project (names are per project).
    other.create_bucket(Bucket=bucket)
    other.put_object(Bucket=bucket, Key="mine", Body=b"demo")
    assert [c["Key"] for c in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["secret"]
    other.delete_object(Bucket=bucket, Key="mine")
    other.delete_bucket(Bucket=bucket)


def test_bad_input(s3: BaseClient, bucket: str, cloud: RunningCloud) -> None:
    with pytest.raises(ClientError) as err:
        s3.create_bucket(Bucket="Bad_Name")
    assert code(err) == (400, "InvalidBucketName")
    with pytest.raises(ClientError) as err:
        s3.create_bucket(Bucket=bucket)
    assert code(err) == (409, "BucketAlreadyOwnedByYou")
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="md5", Body=b"abc",
                      ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg==")
    assert code(err) == (400, "BadDigest")
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket="no-such-bucket-here", Key="k", Body=b"abc")
    assert code(err) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as err:
        s3.upload_part(Bucket=bucket, Key="k", UploadId="0" * 32, PartNumber=0, Body=b"z")
    assert code(err)[0] == 400
    with pytest.raises(ClientError) as err:
        s3.get_bucket_policy(Bucket=bucket)
    assert code(err) == (501, "NotImplemented")
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] is None
    with pytest.raises(ClientError) as err:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": []})
    assert code(err) == (400, "MalformedXML")
    assert s3.list_objects_v2(Bucket=bucket).get("Contents") is None


def test_ec2_credentials_from_the_cli(cli: Cli, cloud: RunningCloud, bucket: str) -> None:
    """`openstack ec2 credentials create` gives keys boto3 signs with."""
    out = json.loads(cli.run("ec2", "credentials", "create", "-f", "json").stdout)
    client = s3_client(cloud, out["access"], out["secret"])
    client.put_object(Bucket=bucket, Key="cli", Body=b"from the cli")
    assert client.get_object(Bucket=bucket, Key="cli")["Body"].read() == b"from the cli"
    cli.run("ec2", "credentials", "delete", out["access"])
    time.sleep(0.5)
    with pytest.raises(ClientError) as err:
        client.list_buckets()
    assert code(err) == (403, "InvalidAccessKeyId")


@pytest.mark.skipif(shutil.which("aws") is None, reason="the aws CLI is not installed")
def test_aws_cli(cloud: RunningCloud, keys: dict[str, tuple[str, str]], bucket: str,
                 tmp_path: Path) -> None:
    access, secret = keys["admin"]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(9 * MiB))
    base = ["aws", "--endpoint-url", f"{cloud.base_url}/s3", "s3"]

    def aws(*args: str) -> str:
        proc = subprocess.run([*base, *args], env=env, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    aws("cp", str(src), f"s3://{bucket}/cli/f.bin")
    assert "f.bin" in aws("ls", f"s3://{bucket}/cli/")
    aws("cp", f"s3://{bucket}/cli/f.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
    aws("rm", f"s3://{bucket}/cli/f.bin")
