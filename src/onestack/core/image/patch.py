"""Glance's JSON-patch semantics, applied to an image's attributes (pure, no I/O).

Media types: ``application/openstack-images-v2.1-json-patch`` (RFC 6902 ops: add replaces
an existing value) and the older ``...-v2.0-json-patch`` (add on an existing attribute is a
409). Paths are one level deep: ``/name``, ``/tags``, ``/<extra property>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from onestack.errors import BadRequest, Conflict, Forbidden

# What an image says about itself and nobody may set.
READ_ONLY = ("id", "status", "created_at", "updated_at", "size", "virtual_size", "checksum",
             "os_hash_algo", "os_hash_value", "file", "self", "schema", "direct_url",
             "locations", "stores")
# Base attributes that may be changed (they are never extra properties).
BASE = ("name", "visibility", "protected", "os_hidden", "disk_format", "container_format",
        "min_disk", "min_ram", "tags", "owner")
RESERVED_PREFIX = "os_glance"
OPS = ("add", "replace", "remove")


@dataclass(frozen=True)
class Change:
    op: str
    path: str  # the attribute name, without the leading slash
    value: Any = None
    strict_add: bool = False  # v2.0 media type: add on an existing attribute is a conflict


@dataclass
class ImageState:
    """The changeable part of an image, as patches see it."""

    base: dict[str, Any]
    properties: dict[str, str]
    tags: list[str] = field(default_factory=list)


def check_settable(name: str) -> None:
    """403 for read-only and reserved attribute names (create and update alike)."""
    if name in READ_ONLY:
        raise Forbidden(f"Attribute '{name}' is read-only.")
    if name.startswith(RESERVED_PREFIX):
        raise Forbidden(f"Attribute '{name}' is reserved.")


def parse_path(path: Any) -> str:
    if not isinstance(path, str) or not path.startswith("/"):
        raise BadRequest(f"Invalid JSON pointer for this resource: {path!r}. Paths look like "
                         "'/name'.")
    name = path[1:].replace("~1", "/").replace("~0", "~")
    if len(name) > 255:
        raise BadRequest("Property names are at most 255 characters long.")
    if not name or ("/" in path[1:]):
        if path.startswith("/locations"):
            raise Forbidden("Changing image locations is not supported.")
        raise BadRequest(f"Invalid JSON pointer for this resource: '{path}'.")
    return name


def parse_changes(body: Any, strict_add: bool) -> list[Change]:
    """A JSON-patch document in either Glance dialect, as a list of Changes."""
    if not isinstance(body, list):
        raise BadRequest("Request body must be a JSON array of operation objects.")
    out: list[Change] = []
    for item in body:
        if not isinstance(item, dict):
            raise BadRequest("Operations must be JSON objects.")
        if "op" in item:
            op, path = item["op"], item.get("path")
        else:
            ops = [k for k in item if k in OPS]
            if len(ops) != 1:
                raise BadRequest("Operation objects must contain exactly one of \"add\", "
                                 "\"remove\" or \"replace\".")
            op, path = ops[0], item[ops[0]]
        if op not in OPS:
            raise BadRequest(f"Invalid operation: {op!r}. It must be one of: "
                             f"{', '.join(OPS)}.")
        if op != "remove" and "value" not in item:
            raise BadRequest(f"Operation \"{op}\" requires a member named \"value\".")
        if op == "remove" and "value" in item:
            raise BadRequest("Operation \"remove\" takes no \"value\".")
        out.append(Change(op, parse_path(path), item.get("value"), strict_add))
    return out


def apply(state: ImageState, changes: list[Change]) -> None:
    for change in changes:
        name = change.path
        check_settable(name)
        is_base = name in BASE
        if change.op == "remove":
            if is_base:
                raise Forbidden(f"Property {name} may not be removed.")
            if name not in state.properties:
                raise Conflict(f"Property {name} does not exist.")
            del state.properties[name]
            continue
        if change.op == "replace" and not is_base and name not in state.properties:
            raise Conflict(f"Property {name} does not exist.")
        if change.op == "add" and change.strict_add and (
                (is_base and name != "tags") or name in state.properties):
            raise Conflict(f"Property {name} already present.")
        if name == "tags":
            state.tags = list(dict.fromkeys(change.value))
        elif is_base:
            state.base[name] = change.value
        elif change.value is None:  # a null extra property is an absent one
            state.properties.pop(name, None)
        else:
            state.properties[name] = change.value
