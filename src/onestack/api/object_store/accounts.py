"""Accounts: container listings, usage and metadata; /info; /healthcheck; the bulk middleware."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.object_store import views
from onestack.api.object_store.common import (
    TEXT,
    body_stream,
    caller,
    empty,
    read_small,
    store,
    swift,
)
from onestack.api.object_store.common import account_of as _account
from onestack.core.object_store.base import CONSTRAINTS, DEFAULT_POLICY, meta_updates
from onestack.core.object_store.bulk import MODES, BulkResult
from onestack.core.object_store.listing import ListParams
from onestack.core.object_store.tempurl import DIGESTS, METHODS
from onestack.errors import MethodNotAllowed

VERSION = "2.38.0"


def capabilities() -> dict[str, Any]:
    c = CONSTRAINTS
    return {
        "swift": {
            "version": VERSION,
            "max_file_size": c.max_file_size,
            "max_meta_name_length": c.max_meta_name_length,
            "max_meta_value_length": c.max_meta_value_length,
            "max_meta_count": c.max_meta_count,
            "max_meta_overall_size": c.max_meta_overall_size,
            "max_header_size": c.max_header_size,
            "max_object_name_length": c.max_object_name_length,
            "container_listing_limit": c.container_listing_limit,
            "account_listing_limit": c.account_listing_limit,
            "max_account_name_length": c.max_account_name_length,
            "max_container_name_length": c.max_container_name_length,
            "extra_header_count": c.extra_header_count,
            "valid_api_versions": ["v1", "v1.0"],
            "policies": [{"name": DEFAULT_POLICY, "aliases": DEFAULT_POLICY,
                          "default": True}],
            "account_autocreate": True,
            "allow_account_management": False,
            "strict_cors_mode": True,
        },
        "keystoneauth": {},
        "account_quotas": {},
        "container_quotas": {},
        "bulk_delete": {"max_deletes_per_request": c.max_bulk_deletes,
                        "max_failed_deletes": c.max_failed_extractions},
        "bulk_upload": {"max_containers_per_extraction": c.max_containers_per_extraction,
                        "max_failed_extractions": c.max_failed_extractions},
        "dlo": {"max_segments": c.max_dlo_segments},
        "slo": {"max_manifest_segments": c.max_manifest_segments,
                "max_manifest_size": c.max_manifest_size,
                "min_segment_size": c.min_segment_size, "yield_frequency": 10,
                "allow_async_delete": False},
        "tempurl": {"methods": list(METHODS), "allowed_digests": sorted(DIGESTS),
                    "incoming_remove_headers": ["x-timestamp"],
                    "incoming_allow_headers": [],
                    "outgoing_remove_headers": ["x-object-meta-*"],
                    "outgoing_allow_headers": ["x-object-meta-public-*"]},
        "formpost": {"allowed_digests": sorted(DIGESTS)},
        "versioned_writes": {"allowed_flags": ["x-versions-location",
                                               "x-history-location"]},
        "symlink": {"symloop_max": 2, "static_links": True},
        "staticweb": {},
        "crossdomain": {"cross_domain_policy": '<allow-access-from domain="*" '
                                               'secure="false" />'},
    }


@swift
async def info(req: ApiRequest) -> Response:
    return Response(json.dumps(capabilities()), media_type="application/json; charset=utf-8")


@swift
async def healthcheck(req: ApiRequest) -> Response:
    """Swift's healthcheck middleware (in every proxy pipeline): 200 OK while serving."""
    return Response("OK", media_type="text/plain")


@swift
async def head_account(req: ApiRequest) -> Response:
    account = _account(req)
    who = caller(req)
    if not who.reads(account):
        raise who.deny()
    acct = await store(req).containers.account(account)
    return empty(204, views.account_headers(acct, who.owns(account)), media=TEXT)


@swift
async def list_containers(req: ApiRequest) -> Response:
    account = _account(req)
    params = ListParams.from_query(req.query)
    who = caller(req)
    acct, items = await store(req).containers.list_containers(who, account, params)
    return views.listing(req, "account", account, items,
                         views.account_headers(acct, who.owns(account)))


def bulk_response(req: ApiRequest, result: BulkResult) -> Response:
    body = result.body()
    if views.listing_format(req) == "json":
        return Response(json.dumps(body), media_type=views.JSON)
    lines = [f"{k}: {v}" for k, v in body.items() if k != "Errors"]
    lines.append("Errors:")
    lines += [", ".join(err) for err in body["Errors"]]
    return Response("\n".join(lines) + "\n", media_type=TEXT)


async def _bulk_delete(req: ApiRequest) -> Response:
    account = _account(req)
    raw = await read_small(req, CONSTRAINTS.max_bulk_deletes * 1100)
    lines = raw.decode("utf-8", "replace").splitlines()
    result = await store(req).bulk.delete(caller(req), account, lines)
    return bulk_response(req, result)


async def extract_archive(req: ApiRequest, container: str | None) -> Response:
    account = _account(req)
    fmt = req.query.get("extract-archive") or "tar"
    if fmt not in MODES:
        from onestack.errors import BadRequest

        raise BadRequest(f"Unsupported archive format {fmt!r}")
    result = await store(req).bulk.extract(caller(req), account, container,
                                           body_stream(req), fmt)
    return bulk_response(req, result)


@swift
async def post_account(req: ApiRequest) -> Response:
    if "bulk-delete" in req.query:
        return await _bulk_delete(req)
    account = _account(req)
    headers = req.http.headers
    sysmeta: dict[str, str | None] = {}
    if "x-remove-account-quota-count" in headers:
        sysmeta["quota-count"] = None
    if "x-account-quota-count" in headers:
        sysmeta["quota-count"] = headers["x-account-quota-count"].strip() or None
    await store(req).containers.update_account(caller(req), account,
                                               meta_updates(headers, "account"), sysmeta)
    return empty(204, media=TEXT)


@swift
async def delete_account(req: ApiRequest) -> Response:
    if "bulk-delete" in req.query:
        return await _bulk_delete(req)
    raise MethodNotAllowed("The method is not allowed for this resource.")


@swift
async def put_account(req: ApiRequest) -> Response:
    if "extract-archive" in req.query:
        return await extract_archive(req, None)
    raise MethodNotAllowed("The method is not allowed for this resource.")
