"""Glance's metadefs and task JSON schemas: the documents at /v2/schemas/metadefs/* and
/v2/schemas/task(s), which are also what request bodies are checked against."""

from __future__ import annotations

import copy
from typing import Any

TYPES = ["array", "boolean", "integer", "number", "object", "string", None]

DEFINITIONS: dict[str, Any] = {
    "positiveInteger": {"type": "integer", "minimum": 0},
    "positiveIntegerDefault0": {"allOf": [{"$ref": "#/definitions/positiveInteger"},
                                          {"default": 0}]},
    "stringArray": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
}

# One property definition, as namespaces, objects and the properties API hold them.
PROPERTY_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "maxLength": 255},
    "title": {"type": "string"},
    "description": {"type": "string"},
    "operators": {"type": "array", "items": {"type": "string"}},
    "type": {"type": "string", "enum": TYPES},
    "required": {"$ref": "#/definitions/stringArray"},
    "minimum": {"type": "number"},
    "maximum": {"type": "number"},
    "maxLength": {"$ref": "#/definitions/positiveInteger"},
    "minLength": {"$ref": "#/definitions/positiveIntegerDefault0"},
    "pattern": {"type": "string", "format": "regex"},
    "enum": {"type": "array"},
    "readonly": {"type": "boolean"},
    "default": {},
    "items": {"type": "object", "properties": {"type": {"type": "string", "enum": TYPES},
                                                "enum": {"type": "array"}}},
    "maxItems": {"$ref": "#/definitions/positiveInteger"},
    "minItems": {"$ref": "#/definitions/positiveIntegerDefault0"},
    "uniqueItems": {"type": "boolean", "default": False},
    "additionalItems": {"type": "boolean"},
}

PROPERTY_MAP: dict[str, Any] = {
    "type": "object",
    "propertyNames": {"maxLength": 255},
    "additionalProperties": {"type": "object", "required": ["title", "type"],
                             "properties": PROPERTY_FIELDS, "additionalProperties": False},
}
DEFINITIONS_WITH_PROPERTY = {**DEFINITIONS, "property": PROPERTY_MAP}


def _ro(kind: str) -> dict[str, Any]:
    return {"type": "string", "readOnly": True,
            "description": f"Date and time of {kind}", "format": "date-time"}


def _stamps(what: str) -> dict[str, Any]:
    return {"created_at": _ro(f"{what} creation"),
            "updated_at": _ro(f"the last {what} modification")}


LINKS = [{"rel": "self", "href": "{self}"}, {"rel": "describedby", "href": "{schema}"}]
READ_ONLY = ("created_at", "updated_at", "self", "schema")

OBJECT_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "maxLength": 80},
    "description": {"type": "string"},
    "required": {"$ref": "#/definitions/stringArray"},
    "properties": {"$ref": "#/definitions/property"},
    "schema": {"type": "string", "readOnly": True},
    "self": {"type": "string", "readOnly": True},
    **_stamps("object"),
}

ASSOCIATION_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "maxLength": 80,
             "description": "Resource type names should be aligned with Heat resource "
                            "types whenever possible: https://docs.openstack.org/heat/"
                            "latest/template_guide/openstack.html"},
    "prefix": {"type": "string", "maxLength": 80,
               "description": "Specifies the prefix to use for the given resource type. "
                              "Any properties in the namespace should be prefixed with "
                              "this prefix when being applied to the specified resource "
                              "type."},
    "properties_target": {"type": "string", "maxLength": 80,
                          "description": "Some resource types allow more than one "
                                         "key / value pair per instance, e.g. Cinder "
                                         "volume (image and volume metadata)."},
    **_stamps("resource type association"),
}

TAG_FIELDS: dict[str, Any] = {"name": {"type": "string", "maxLength": 255},
                              **_stamps("tag")}

NAMESPACE_FIELDS: dict[str, Any] = {
    "namespace": {"type": "string", "maxLength": 80,
                  "description": "The unique namespace text."},
    "display_name": {"type": "string", "maxLength": 80,
                     "description": "The user friendly name for the namespace. Used by "
                                    "UI if available."},
    "description": {"type": "string", "maxLength": 500,
                    "description": "Provides a user friendly description of the "
                                   "namespace."},
    "visibility": {"type": "string", "enum": ["public", "private"],
                   "description": "Scope of namespace accessibility."},
    "protected": {"type": "boolean",
                  "description": "If true, namespace will not be deletable."},
    "owner": {"type": "string", "maxLength": 255, "description": "Owner of the namespace."},
    **_stamps("namespace"),
    "schema": {"type": "string", "readOnly": True},
    "self": {"type": "string", "readOnly": True},
    "resource_type_associations": {"type": "array", "items": {
        "type": "object", "required": ["name"], "properties": {
            k: ASSOCIATION_FIELDS[k] for k in ("name", "prefix", "properties_target")}}},
    "properties": {"$ref": "#/definitions/property"},
    "objects": {"type": "array", "items": {
        "type": "object", "required": ["name"], "properties": {
            k: OBJECT_FIELDS[k] for k in ("name", "description", "required", "properties")}}},
    "tags": {"type": "array", "items": {"type": "object", "required": ["name"],
                                        "properties": {"name": TAG_FIELDS["name"]}}},
}


def _single(name: str, props: dict[str, Any], required: list[str],
            definitions: dict[str, Any] | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": name, "properties": props,
                           "additionalProperties": False, "required": required}
    if definitions is not None:
        doc["definitions"] = definitions
    return doc


def _collection(name: str, item: dict[str, Any], *, as_map: bool = False) -> dict[str, Any]:
    items = {"type": "object", "additionalProperties": item} if as_map else \
        {"type": "array", "items": item}
    doc: dict[str, Any] = {
        "name": name,
        "properties": {name: items, "first": {"type": "string"},
                       "next": {"type": "string"}, "schema": {"type": "string"}},
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                  {"rel": "describedby", "href": "{schema}"}],
    }
    if "definitions" in item:
        doc["definitions"] = item["definitions"]
    return doc


NAMESPACE = _single("namespace", NAMESPACE_FIELDS, ["namespace"], DEFINITIONS_WITH_PROPERTY)
OBJECT = _single("object", OBJECT_FIELDS, ["name"], DEFINITIONS_WITH_PROPERTY)
PROPERTY = _single("property", PROPERTY_FIELDS, ["type", "title", "name"], DEFINITIONS)
ASSOCIATION = _single("resource_type_association", ASSOCIATION_FIELDS, ["name"], None)
TAG = _single("tag", TAG_FIELDS, ["name"], None)

_PROPERTY_IN_MAP = {**PROPERTY, "required": ["type", "title"]}

TASK_FIELDS: dict[str, Any] = {
    "id": {"type": "string", "description": "An identifier for the task",
           "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                      "-([0-9a-fA-F]){12}$"},
    "type": {"type": "string", "description": "The type of task represented by this "
                                              "content", "enum": ["import",
                                                                  "api_image_import",
                                                                  "location_import"]},
    "status": {"type": "string", "description": "The current status of this task",
               "enum": ["pending", "processing", "success", "failure"]},
    "input": {"type": ["null", "object"], "description": "The parameters required by task, "
                                                         "JSON blob"},
    "result": {"type": ["null", "object"], "description": "The result of current task, "
                                                          "JSON blob"},
    "owner": {"type": "string", "description": "An identifier for the owner of this task"},
    "message": {"type": "string", "description": "Human-readable informative message only "
                                                 "included when appropriate (usually on "
                                                 "failure)"},
    "image_id": {"type": "string", "description": "Image associated with the task"},
    "request_id": {"type": "string", "description": "Human-readable informative request-id"},
    "user_id": {"type": "string", "description": "User associated with the task"},
    "expires_at": {"type": ["null", "string"], "description": "Datetime when this resource "
                                                              "would be subject to removal"},
    "created_at": {"type": "string", "description": "Datetime when this resource was "
                                                    "created"},
    "updated_at": {"type": "string", "description": "Datetime when this resource was "
                                                    "updated"},
    "self": {"type": "string"},
    "schema": {"type": "string"},
}
TASK = {"name": "task", "properties": TASK_FIELDS}
TASKS = {"name": "tasks", "properties": {
    "schema": {"type": "string"},
    "tasks": {"type": "array", "items": {"name": "task", "properties": {
        k: v for k, v in TASK_FIELDS.items() if k not in ("input", "result", "message")}}}},
    "links": [{"rel": "describedby", "href": "{schema}"}]}

METADEF_DOCUMENTS: dict[str, dict[str, Any]] = {
    "namespace": NAMESPACE,
    "namespaces": _collection("namespaces", NAMESPACE),
    "object": OBJECT,
    "objects": _collection("objects", OBJECT),
    "property": PROPERTY,
    "properties": _collection("properties", _PROPERTY_IN_MAP, as_map=True),
    "resource_type": ASSOCIATION,
    "resource_types": _collection("resource_type_associations", ASSOCIATION),
    "tag": TAG,
    "tags": _collection("tags", TAG),
}
TASK_DOCUMENTS = {"task": TASK, "tasks": TASKS}


# --- request bodies --------------------------------------------------------------------
def _request(doc: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """A body schema from a document: its writable fields, nothing else."""
    body = copy.deepcopy(doc)
    body["type"] = "object"
    body["required"] = required
    body["properties"] = {k: v for k, v in body["properties"].items()
                          if not v.get("readOnly")}
    body.pop("name", None)
    return body


namespace_body = _request(NAMESPACE, ["namespace"])
object_body = _request(OBJECT, ["name"])
property_body = _request(PROPERTY, ["name", "title", "type"])
association_body = _request(ASSOCIATION, ["name"])
tag_body = _request(TAG, ["name"])
tags_body: dict[str, Any] = {
    "type": "object", "required": ["tags"], "additionalProperties": False,
    "properties": {"tags": {"type": "array", "items": tag_body}},
}
task_body: dict[str, Any] = {
    "type": "object", "required": ["type", "input"],
    "properties": {"type": {"type": "string", "enum": ["import", "api_image_import",
                                                       "location_import"]},
                   "input": {"type": "object"}},
}
