"""Barbican's response shapes and its fault body ``{"code", "title", "description"}``."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from onestack.core.key_manager.base import Acl
from onestack.core.key_manager.containers import ContainerView
from onestack.core.key_manager.secrets import SecretView
from onestack.db.models.key_manager import KmConsumer, KmContainer, KmOrder, KmSecret
from onestack.errors import OnestackError

if TYPE_CHECKING:
    from onestack.api.common.request import ApiRequest


def barbican_fault(exc: OnestackError, _req: ApiRequest | None
                   ) -> tuple[dict[str, Any], dict[str, str]]:
    return ({"code": exc.status, "title": exc.title, "description": exc.message},
            dict(exc.headers))


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def ref(req: ApiRequest, kind: str, ident: str) -> str:
    return req.url(f"/v1/{kind}/{ident}")


def secret(req: ApiRequest, row: KmSecret, view: SecretView | None = None
           ) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": row.status, "created": iso(row.created_at), "updated": iso(row.updated_at),
        "expiration": iso(row.expiration), "algorithm": row.algorithm,
        "bit_length": row.bit_length, "mode": row.mode, "name": row.name,
        "secret_ref": ref(req, "secrets", row.id), "secret_type": row.secret_type,
        "creator_id": row.creator_id}
    if row.ciphertext is not None:
        out["content_types"] = {"default": row.content_type}
    if view is not None:
        out["consumers"] = [secret_consumer(c) for c in view.consumers]
    return out


def secret_consumer(c: KmConsumer) -> dict[str, Any]:
    return {"service": c.name, "resource_type": c.url, "resource_id": c.resource_id,
            "created": iso(c.created_at), "updated": iso(c.updated_at), "status": "ACTIVE"}


def consumer(c: KmConsumer) -> dict[str, Any]:
    return {"name": c.name, "URL": c.url, "created": iso(c.created_at),
            "updated": iso(c.updated_at), "status": "ACTIVE"}


def container(req: ApiRequest, row: KmContainer, view: ContainerView | None = None
              ) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": row.status, "created": iso(row.created_at), "updated": iso(row.updated_at),
        "name": row.name, "type": row.type, "container_ref": ref(req, "containers", row.id),
        "creator_id": row.creator_id,
        "secret_refs": [{"name": r["name"], "secret_ref": ref(req, "secrets", r["secret_id"])}
                        for r in row.secret_refs],
        "consumers": []}
    if view is not None:
        out["consumers"] = [{"name": c.name, "URL": c.url} for c in view.consumers]
    return out


def order(req: ApiRequest, row: KmOrder) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": row.status, "created": iso(row.created_at), "updated": iso(row.updated_at),
        "type": row.type, "meta": row.meta, "order_ref": ref(req, "orders", row.id),
        "creator_id": row.creator_id, "sub_status": "Unknown",
        "sub_status_message": "Unknown"}
    if row.secret_id:
        out["secret_ref"] = ref(req, "secrets", row.secret_id)
    if row.container_id:
        out["container_ref"] = ref(req, "containers", row.container_id)
    if row.error_status_code:
        out["error_status_code"], out["error_reason"] = (row.error_status_code,
                                                         row.error_reason)
    return out


def acl(a: Acl) -> dict[str, Any]:
    if a.created_at is None:
        return {"read": {"project-access": True}}
    return {"read": {"project-access": a.project_access, "users": a.users,
                     "created": iso(a.created_at), "updated": iso(a.updated_at)}}


def page(req: ApiRequest, path: str, plural: str, items: list[dict[str, Any]], total: int,
         offset: int, limit: int) -> dict[str, Any]:
    """Barbican's paged list: the items, ``total``, and ``previous``/``next`` links that
    keep the other query parameters."""
    out: dict[str, Any] = {plural: items, "total": total}
    if not items:
        return out
    rest = [(k, v) for k, v in req.query.multi_items() if k not in ("limit", "offset")]

    def link(at: int) -> str:
        return req.url(f"/v1/{path}") + "?" + urlencode([("limit", limit), ("offset", at),
                                                         *rest])

    if offset > 0:
        out["previous"] = link(max(0, offset - limit))
    if offset + limit < total:
        out["next"] = link(offset + limit)
    return out
