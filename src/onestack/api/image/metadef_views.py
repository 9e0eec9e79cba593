"""Response shapes of Glance's metadefs and tasks (attributes that are unset are left out,
as Glance's models leave them out)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from onestack.api.image.views import isotime
from onestack.core.image.metadefs import NamespaceRecord
from onestack.db.models.image_metadef import (
    ImageTask,
    MetadefNamespace,
    MetadefObject,
    MetadefProperty,
    MetadefResourceType,
    MetadefResourceTypeAssoc,
    MetadefTag,
)

NS_BASE = "/v2/metadefs/namespaces"
SCHEMAS = "/v2/schemas/metadefs"


def ns_href(name: str) -> str:
    return f"{NS_BASE}/{quote(name, safe=':')}"


def _set(body: dict[str, Any], **values: Any) -> dict[str, Any]:
    body.update({k: v for k, v in values.items() if v is not None})
    return body


def _stamps(row: Any) -> dict[str, Any]:
    return {"created_at": isotime(row.created_at), "updated_at": isotime(row.updated_at)}


def association(row: MetadefResourceTypeAssoc) -> dict[str, Any]:
    return _set({"name": row.resource_type, **_stamps(row)}, prefix=row.prefix,
                properties_target=row.properties_target)


def resource_type(row: MetadefResourceType) -> dict[str, Any]:
    return {"name": row.name, **_stamps(row)}


def prop(row: MetadefProperty, prefix: str = "") -> dict[str, Any]:
    return {**row.json_schema, "name": prefix + row.name}


def properties_map(rows: list[MetadefProperty], prefix: str = "") -> dict[str, Any]:
    return {prefix + r.name: {**r.json_schema, "name": prefix + r.name} for r in rows}


def _prefixed(props: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {prefix + k: ({**v, "name": prefix + k} if "name" in v else v)
            for k, v in props.items()}


def obj(row: MetadefObject, namespace: str, prefix: str = "") -> dict[str, Any]:
    body = {"name": row.name, **_stamps(row),
            "self": f"{ns_href(namespace)}/objects/{quote(row.name, safe=':')}",
            "schema": f"{SCHEMAS}/object"}
    if row.properties:
        body["properties"] = _prefixed(row.properties, prefix)
    return _set(body, description=row.description, required=row.required or None)


def tag(row: MetadefTag) -> dict[str, Any]:
    return {"name": row.name, **_stamps(row)}


def _namespace_own(ns: MetadefNamespace) -> dict[str, Any]:
    return _set({"namespace": ns.namespace, "visibility": ns.visibility,
                 "protected": ns.protected, **_stamps(ns), "self": ns_href(ns.namespace),
                 "schema": f"{SCHEMAS}/namespace"},
                display_name=ns.display_name, description=ns.description, owner=ns.owner)


def namespace(rec: NamespaceRecord, resource_type_name: str | None = None) -> dict[str, Any]:
    """The namespace with what it holds; with ``resource_type_name``, property names carry
    the prefix of that resource type's association (Glance's ``?resource_type=``)."""
    body = _namespace_own(rec.ns)
    prefix = ""
    for a in rec.associations:
        if a.resource_type == resource_type_name and a.prefix:
            prefix = a.prefix
    if rec.associations:
        body["resource_type_associations"] = [association(a) for a in rec.associations]
    if rec.properties:
        body["properties"] = properties_map(rec.properties, prefix)
    if rec.objects:
        body["objects"] = [obj(o, rec.ns.namespace, prefix) for o in rec.objects]
    if rec.tags:
        body["tags"] = [{"name": t.name} for t in rec.tags]
    return body


def task(row: ImageTask, *, stub: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.id, "type": row.type, "status": row.status, "owner": row.owner,
        **_stamps(row), "self": f"/v2/tasks/{row.id}", "schema": "/v2/schemas/task"}
    if not stub:
        body.update(input=row.input, result=row.result, message=row.message)
        _set(body, image_id=row.image_id, request_id=row.request_id, user_id=row.user_id)
    return _set(body, expires_at=isotime(row.expires_at))
