"""S3 route table (path-style: /s3/<bucket>/<key>).

Every route is served without a Keystone token (``auth=False``): requests are signed with
an EC2 key (AWS Signature Version 4 or 2), checked by the handlers' ``@s3`` wrapper. What a
signer may do is what the key's owner may do in Swift: buckets are the containers of the
key's project, and container ACLs apply as they do there.
"""

from __future__ import annotations

from onestack.api.common.policy import Rule
from onestack.api.common.routing import Route, ServiceApi
from onestack.api.s3 import buckets, objects
from onestack.api.s3.common import prepare, response_headers, routing_fault
from onestack.core.identity.bootstrap import ServiceEntry

R = Route
BUCKET = "/{bucket}"
OBJECT = BUCKET + "/{key:path}"

RULES: list[Rule] = []

ROUTES: list[Route] = [
    R("GET", "/", buckets.list_buckets, auth=False),
    R("PUT", BUCKET, buckets.create_bucket, auth=False),
    R("HEAD", BUCKET, buckets.head_bucket, auth=False),  # before GET, which answers HEAD
    R("GET", BUCKET, buckets.get_bucket, auth=False),
    R("DELETE", BUCKET, buckets.delete_bucket, auth=False),
    R("POST", BUCKET, buckets.post_bucket, auth=False),
    R("GET", OBJECT, objects.get_object, auth=False),  # also HEAD
    R("PUT", OBJECT, objects.put_object, auth=False),
    R("POST", OBJECT, objects.post_object, auth=False),
    R("DELETE", OBJECT, objects.delete_object, auth=False),
]

SERVICE = ServiceApi(name="s3", prefix="/s3", routes=ROUTES, render_fault=routing_fault,
                     response_headers=response_headers, prepare=prepare)


def catalog_entries(base_url: str) -> list[ServiceEntry]:
    return [ServiceEntry("s3", "s3", f"{base_url}/s3")]


__all__ = ["RULES", "SERVICE", "catalog_entries"]
