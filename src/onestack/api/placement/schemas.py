"""Request bodies, as JSON schemas (Placement's own rules)."""

from __future__ import annotations

from typing import Any

MAX_INT = 2147483647
uuid = {"type": "string", "format": "uuid",
        "pattern": "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                   "[0-9a-fA-F]{12}$"}
rc_name = {"type": "string", "pattern": "^[A-Z0-9_]+$", "maxLength": 255}
custom_rc = {"type": "string", "pattern": "^CUSTOM_[A-Z0-9_]+$", "maxLength": 255}
trait_name = {"type": "string", "pattern": "^[A-Z0-9_]+$", "maxLength": 255}
generation = {"type": "integer", "minimum": 0, "maximum": MAX_INT}
nullable_generation = {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_INT}
name = {"type": "string", "minLength": 1, "maxLength": 200}
project = {"type": "string", "minLength": 1, "maxLength": 255}


def _obj(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required,
            "additionalProperties": False}


def provider_create(v: tuple[int, int]) -> dict[str, Any]:
    props: dict[str, Any] = {"name": name, "uuid": uuid}
    if v >= (1, 14):
        props["parent_provider_uuid"] = {"anyOf": [uuid, {"type": "null"}]}
    return _obj(props, ["name"])


def provider_update(v: tuple[int, int]) -> dict[str, Any]:
    props: dict[str, Any] = {"name": name}
    if v >= (1, 14):
        props["parent_provider_uuid"] = {"anyOf": [uuid, {"type": "null"}]}
    return _obj(props, ["name"])


INVENTORY_PROPS: dict[str, Any] = {
    "total": {"type": "integer", "maximum": MAX_INT, "minimum": 1},
    "reserved": {"type": "integer", "maximum": MAX_INT, "minimum": 0},
    "min_unit": {"type": "integer", "maximum": MAX_INT, "minimum": 1},
    "max_unit": {"type": "integer", "maximum": MAX_INT, "minimum": 1},
    "step_size": {"type": "integer", "maximum": MAX_INT, "minimum": 1},
    "allocation_ratio": {"type": "number", "maximum": 3.40282e38, "exclusiveMinimum": 0},
}
inventory_fields = _obj(INVENTORY_PROPS, ["total"])
inventories_put = _obj({
    "resource_provider_generation": generation,
    "inventories": {"type": "object", "maxProperties": 1000,
                    "patternProperties": {"^[A-Z0-9_]+$": inventory_fields},
                    "additionalProperties": False},
}, ["resource_provider_generation", "inventories"])
inventory_put = _obj({**INVENTORY_PROPS, "resource_provider_generation": generation},
                     ["total", "resource_provider_generation"])
inventory_post = _obj({**INVENTORY_PROPS, "resource_provider_generation": generation,
                       "resource_class": rc_name},
                      ["total", "resource_provider_generation", "resource_class"])

traits_put = _obj({"traits": {"type": "array", "items": trait_name, "maxItems": 1000},
                   "resource_provider_generation": generation},
                  ["traits", "resource_provider_generation"])
aggregate_list = {"type": "array", "items": uuid, "uniqueItems": True, "maxItems": 1000}
aggregates_put_old = aggregate_list
aggregates_put = _obj({"aggregates": aggregate_list, "resource_provider_generation": generation},
                      ["aggregates", "resource_provider_generation"])
resource_class_body = _obj({"name": custom_rc}, ["name"])

resources = {"type": "object", "minProperties": 1, "maxProperties": 100,
             "patternProperties": {"^[A-Z0-9_]+$": {"type": "integer", "minimum": 1,
                                                     "maximum": MAX_INT}},
             "additionalProperties": False}


def allocations_put(v: tuple[int, int], *, many: bool = False) -> dict[str, Any]:
    """PUT /allocations/{c} (or one consumer of POST /allocations)."""
    if v < (1, 12):
        item = _obj({"resource_provider": _obj({"uuid": uuid}, ["uuid"]),
                     "resources": resources}, ["resource_provider", "resources"])
        allocs: dict[str, Any] = {"type": "array", "items": item, "minItems": 1,
                                  "maxItems": 1000}
    else:
        allocs = {"type": "object", "maxProperties": 1000,
                  "patternProperties": {"^[0-9a-fA-F-]{32,36}$": _obj(
                      {"resources": resources, "generation": {"type": ["integer", "null"]}},
                      ["resources"])},
                  "additionalProperties": False}
        if v < (1, 28) and not many:
            allocs["minProperties"] = 1
    props: dict[str, Any] = {"allocations": allocs, "project_id": project, "user_id": project}
    required = ["allocations"]
    if v >= (1, 8):
        required += ["project_id", "user_id"]
    if v >= (1, 28):
        props["consumer_generation"] = nullable_generation
        required.append("consumer_generation")
    if v >= (1, 38):
        props["consumer_type"] = {"type": "string"}
    return _obj(props, required)


def allocations_post(v: tuple[int, int]) -> dict[str, Any]:
    return {"type": "object", "minProperties": 1, "maxProperties": 1000,
            "patternProperties": {"^[0-9a-fA-F-]{32,36}$": allocations_put(v, many=True)},
            "additionalProperties": False}
