"""Object storage with its bytes on Ceph RGW ([object_store] blob_store = "s3"): Swift
(openstacksdk, raw HTTP) and S3 (boto3) clients against a cloud whose blob store is a bucket
of a throwaway RGW. Uploads, ranged reads, a large object that goes up as a multipart upload
to RGW, S3 multipart, listings and deletes; the bytes are in RGW and nowhere on disk; a
stopped RGW answers 503 naming the cause; and a cloud killed (-9) mid-upload leaves nothing
the sweep does not remove."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from onestack.config import load_settings
from onestack.core.object_store.service import ObjectStore
from onestack.db.engine import Database
from onestack.drivers.blob import S3BlobStore
from tests.integration.test_blob_contract import rgw_or_skip
from tests.support import rgw as rgw_support
from tests.support.server import CloudThread, RunningCloud

pytestmark = pytest.mark.integration
MiB = 1024 * 1024
PART = 5 * MiB


def _store(rgw: rgw_support.Rgw, bucket: str) -> S3BlobStore:
    return S3BlobStore(rgw.endpoint, bucket, rgw.access_key, rgw.secret_key, rgw.region,
                       part_size=PART)


def _new_bucket(rgw: rgw_support.Rgw) -> str:
    bucket = "onestack-" + uuid.uuid4().hex[:10]
    asyncio.run(_store(rgw, bucket).create_bucket())
    return bucket


def _configure(thread: CloudThread, rgw: rgw_support.Rgw, bucket: str) -> None:
    for k, v in {**rgw.settings(), "s3_bucket": bucket, "s3_part_size": PART}.items():
        setattr(thread.settings.object_store, k, v)


@pytest.fixture(scope="module")
def rgw() -> rgw_support.Rgw:
    return rgw_or_skip()


@pytest.fixture(scope="module")
def bucket(rgw: rgw_support.Rgw) -> str:
    return _new_bucket(rgw)


@pytest.fixture(scope="module")
def cloud(rgw: rgw_support.Rgw, bucket: str) -> Iterator[RunningCloud]:
    thread = CloudThread()
    _configure(thread, rgw, bucket)
    yield thread.start()
    thread.stop()


def _keys_in(rgw: rgw_support.Rgw, bucket: str) -> dict[str, float]:
    async def scan() -> dict[str, float]:
        s = _store(rgw, bucket)
        try:
            found = await s.scan()
        finally:
            await s.close()
        return found.blobs
    return asyncio.run(scan())


def _swift(cloud: RunningCloud) -> tuple[str, dict[str, str]]:
    acct = cloud.accounts["demo"]
    return (f"{cloud.base_url}/object-storage/v1/AUTH_{acct.project_id}",
            {"X-Auth-Token": cloud.token("demo")})


def test_swift_objects_on_rgw(cloud: RunningCloud, rgw: rgw_support.Rgw, bucket: str) -> None:
    import openstack

    acct = cloud.accounts["demo"]
    conn = openstack.connect(auth={"auth_url": cloud.auth_url, "username": acct.username,
                                   "password": acct.password, "project_name": acct.project,
                                   "user_domain_name": "Default",
                                   "project_domain_name": "Default"},
                             region_name="RegionOne", identity_api_version="3")
    before = set(_keys_in(rgw, bucket))
    conn.object_store.create_container("photos")
    small = os.urandom(3000)
    large = os.urandom(3 * PART + 777)  # a multipart upload of 4 parts to RGW
    conn.object_store.upload_object("photos", "small.bin", data=small)
    conn.object_store.upload_object("photos", "large.bin", data=large)
    assert conn.object_store.download_object("large.bin", container="photos") == large
    names = sorted(o.name for o in conn.object_store.objects("photos"))
    assert names == ["large.bin", "small.bin"]
    added = set(_keys_in(rgw, bucket)) - before
    assert len(added) == 2  # the bytes are in RGW...
    assert not list((cloud.settings.data_dir / "objects").rglob("*")) if (
        cloud.settings.data_dir / "objects").exists() else True  # ...not on disk
    url, headers = _swift(cloud)
    r = httpx.get(f"{url}/photos/large.bin", headers={**headers,
                                                        "Range": f"bytes={PART - 3}-{PART + 2}"})
    assert r.status_code == 206 and r.content == large[PART - 3:PART + 3]
    r = httpx.get(f"{url}/photos/small.bin", headers={**headers, "Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == small[-10:]
    head = httpx.head(f"{url}/photos/large.bin", headers=headers)
    assert head.headers["etag"] == hashlib.md5(large).hexdigest()
    blobs = cloud.runtime.object_store.blobs
    assert isinstance(blobs, S3BlobStore)
    keys, blobs._keys = blobs._keys, (blobs._keys[0], "not-the-secret")
    try:  # the backend fails before the response starts: a 503 naming it, not a cut 200
        for extra in ({}, {"Range": "bytes=10-20000000"}):
            r = httpx.get(f"{url}/photos/large.bin", headers={**headers, **extra})
            assert r.status_code == 503 and "refused the credentials" in r.text
    finally:
        blobs._keys = keys
    conn.object_store.delete_object("large.bin", container="photos")
    conn.object_store.delete_object("small.bin", container="photos")
    assert set(_keys_in(rgw, bucket)) - before == set()  # deletes reach RGW
    conn.object_store.delete_container("photos")


def _s3(cloud: RunningCloud) -> Any:
    acct = cloud.accounts["demo"]
    r = httpx.post(f"{cloud.auth_url}/users/{acct.user_id}/credentials/OS-EC2",
                   json={"tenant_id": acct.project_id},
                   headers={"X-Auth-Token": cloud.token("demo")})
    cred = r.json()["credential"]
    return boto3.client("s3", endpoint_url=f"{cloud.base_url}/s3",
                        aws_access_key_id=cred["access"], aws_secret_access_key=cred["secret"],
                        region_name="us-east-1", config=Config(
                            s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def test_s3_objects_on_rgw(cloud: RunningCloud) -> None:
    s3 = _s3(cloud)
    s3.create_bucket(Bucket="docs")
    s3.put_object(Bucket="docs", Key="a.txt", Body=b"hello rgw")
    got = s3.get_object(Bucket="docs", Key="a.txt", Range="bytes=6-8")
    assert got["Body"].read() == b"rgw"
    data = os.urandom(11 * MiB)  # S3 multipart through Onestack: 3 parts, each one a blob
    s3.upload_fileobj(io.BytesIO(data), "docs", "big.bin",
                      Config=TransferConfig(multipart_threshold=5 * MiB,
                                            multipart_chunksize=5 * MiB, use_threads=False))
    assert s3.head_object(Bucket="docs", Key="big.bin")["ETag"].endswith('-3"')
    assert s3.get_object(Bucket="docs", Key="big.bin")["Body"].read() == data
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="docs")["Contents"]] == [
        "a.txt", "big.bin"]
    s3.delete_objects(Bucket="docs", Delete={"Objects": [{"Key": "a.txt"},
                                                         {"Key": "big.bin"}]})
    assert s3.list_objects_v2(Bucket="docs")["KeyCount"] == 0
    s3.delete_bucket(Bucket="docs")


def test_backend_down_is_503_naming_the_cause(cloud: RunningCloud) -> None:
    """The cloud's bucket gone from RGW: Swift and S3 answer 503 with the cause, the API
    stays up, and no object shows in listings."""
    blobs = cloud.runtime.object_store.blobs
    assert isinstance(blobs, S3BlobStore)
    bucket, blobs.bucket = blobs.bucket, "onestack-missing-" + uuid.uuid4().hex[:6]
    try:
        url, headers = _swift(cloud)
        assert httpx.put(f"{url}/c", headers=headers).status_code == 201
        r = httpx.put(f"{url}/c/o", headers=headers, content=b"data")
        assert r.status_code == 503 and "does not exist" in r.text, r.text
        assert httpx.get(f"{url}/c", headers=headers).status_code == 204  # empty listing
        assert httpx.get(f"{url}/c/o", headers=headers).status_code == 404
        s3 = _s3(cloud)
        with pytest.raises(ClientError) as err:
            s3.put_object(Bucket="c", Key="o", Body=b"data")
        assert err.value.response["Error"]["Code"] == "ServiceUnavailable"
        assert "does not exist" in err.value.response["Error"]["Message"]
        assert s3.list_objects_v2(Bucket="c")["KeyCount"] == 0
    finally:
        blobs.bucket = bucket


CHILD = """
import json, sys, time
from pathlib import Path
from tests.support.server import CloudThread
thread = CloudThread(data_dir=Path(sys.argv[1]))
for k, v in json.loads(sys.argv[2]).items():
    setattr(thread.settings.object_store, k, v)
cloud = thread.start()
acct = cloud.accounts["demo"]
print(json.dumps({"url": f"{cloud.base_url}/object-storage/v1/AUTH_{acct.project_id}",
                  "token": cloud.token("demo"), "tmp": thread.tmp.name}), flush=True)
time.sleep(600)
"""


def test_kill_9_mid_upload_leaves_nothing_the_sweep_keeps(
        rgw: rgw_support.Rgw, tmp_path: Path) -> None:
    bucket = _new_bucket(rgw)
    conf: dict[str, Any] = {**rgw.settings(), "s3_bucket": bucket, "s3_part_size": PART}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), json.dumps(conf)],
                             stdout=subprocess.PIPE, cwd=Path(__file__).parents[2],
                             start_new_session=True)
    try:
        assert child.stdout is not None
        info = json.loads(child.stdout.readline())
        headers = {"X-Auth-Token": info["token"]}
        assert httpx.put(f"{info['url']}/c", headers=headers).status_code == 201
        assert httpx.put(f"{info['url']}/c/kept", headers=headers,
                         content=b"kept").status_code == 201

        def slow() -> Iterator[bytes]:  # two parts, then the server dies
            yield os.urandom(2 * PART + 10)
            time.sleep(30)
            yield b"never sent"

        def upload() -> None:
            with contextlib.suppress(httpx.HTTPError):
                httpx.put(f"{info['url']}/c/half", headers=headers, content=slow(),
                          timeout=60)

        sender = threading.Thread(target=upload, daemon=True)
        sender.start()
        store = _store(rgw, bucket)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait for RGW to hold a multipart upload
            scan = asyncio.run(store.scan())
            if scan.unfinished:
                break
            time.sleep(0.2)
        assert scan.unfinished, "the upload never reached RGW"
        os.killpg(child.pid, signal.SIGKILL)
        shutil.rmtree(info["tmp"], ignore_errors=True)  # the child's own temp dir
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()

    async def sweep() -> tuple[Any, Any]:
        settings = load_settings(None, data_dir=tmp_path)
        for k, v in conf.items():
            setattr(settings.object_store, k, v)
        os_ = ObjectStore(settings, Database(settings.database_url))
        os_.sweeper.grace = 0
        report = await os_.sweeper.sweep()
        after = await os_.blobs.scan()
        await os_.blobs.close() if isinstance(os_.blobs, S3BlobStore) else None
        await os_.db.close()
        return report, after

    report, after = asyncio.run(sweep())
    assert report.temporary == 1  # the multipart upload aborted
    assert after is not None and after.unfinished == []
    assert len(after.blobs) == 1  # only "kept" (its row names it)
