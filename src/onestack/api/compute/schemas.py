"""Request bodies of the compute API (Nova's JSON schemas, trimmed to what is served)."""

from __future__ import annotations

from typing import Any

NAME_PATTERN = r"^(?![\s])[^\x00-\x1f]*(?<![\s])$"  # printable, no edge whitespace
name = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": NAME_PATTERN}
description = {"type": ["string", "null"], "maxLength": 255}
positive_int = {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1,
                "maximum": 2147483647}
non_negative_int = {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 0,
                    "maximum": 2147483647}
metadata = {"type": "object", "patternProperties": {
    r"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string", "maxLength": 255}},
    "additionalProperties": False}
tag = {"type": "string", "minLength": 1, "maxLength": 60, "pattern": r"^[^,/]*$"}
ipv4 = {"type": "string", "format": "ipv4"}
ipv6 = {"type": "string", "format": "ipv6"}
disk_config = {"type": "string", "enum": ["AUTO", "MANUAL"]}
# Nova's boolean parameter (parameter_types.boolean): a JSON boolean or one of these strings
BOOLISH = [True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes",
           False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no"]


def obj(key: str, props: dict[str, Any], required: list[str] | None = None,
        extra: bool = False) -> dict[str, Any]:
    inner: dict[str, Any] = {"type": "object", "properties": props,
                             "additionalProperties": extra}
    if required:
        inner["required"] = required
    return {"type": "object", "properties": {key: inner}, "required": [key],
            "additionalProperties": False}


flavor_create = obj("flavor", {
    "name": name,
    "id": {"type": ["string", "number", "null"], "minLength": 1, "maxLength": 255,
           "pattern": r"^(?! )[a-zA-Z0-9. _-]+(?<! )$"},
    "ram": positive_int, "vcpus": positive_int, "disk": non_negative_int,
    "OS-FLV-EXT-DATA:ephemeral": non_negative_int,
    "swap": {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 0,
             "maximum": 2147483647},
    "rxtx_factor": {"type": ["number", "string"], "pattern": r"^[0-9]+(\.[0-9]+)?$",
                    "minimum": 0, "exclusiveMinimum": 0, "maximum": 3.40282e38},
    "os-flavor-access:is_public": {"enum": BOOLISH},
    "description": {"type": ["string", "null"], "maxLength": 65535},
}, ["name", "ram", "vcpus", "disk"])
flavor_update = obj("flavor", {"description": {"type": ["string", "null"],
                                               "maxLength": 65535}}, ["description"])
extra_specs = {"type": "object", "properties": {"extra_specs": {
    "type": "object", "patternProperties": {
        r"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": ["string", "number", "boolean"],
                                       "maxLength": 255}},
    "additionalProperties": False}}, "required": ["extra_specs"],
    "additionalProperties": False}
extra_spec_one = {"type": "object", "patternProperties": {
    r"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": ["string", "number", "boolean"],
                                   "maxLength": 255}},
    "minProperties": 1, "maxProperties": 1, "additionalProperties": False}
tenant_access = {"type": "object", "properties": {"tenant": {
    "type": "string", "minLength": 1, "maxLength": 255}}, "required": ["tenant"],
    "additionalProperties": False}

keypair_create = obj("keypair", {
    "name": {"type": "string", "minLength": 1, "maxLength": 255,
             "pattern": r"^[a-zA-Z0-9 _.@-]+$"},
    "public_key": {"type": "string"},
    "type": {"type": "string", "enum": ["ssh", "x509"]},
    "user_id": {"type": "string"},
}, ["name"])

networks = {"oneOf": [
    {"type": "string", "enum": ["none", "auto"]},
    {"type": "array", "items": {"type": "object", "properties": {
        "uuid": {"type": "string", "format": "uuid"},
        "port": {"type": ["string", "null"], "format": "uuid"},
        "fixed_ip": {"type": "string", "oneOf": [ipv4, ipv6]},
        "tag": tag}, "additionalProperties": False}}]}

# Nova's block_device_mapping_new_item.
block_device = {"type": "object", "additionalProperties": False, "properties": {
    "source_type": {"type": "string", "enum": ["volume", "image", "snapshot", "blank"]},
    "destination_type": {"type": "string", "enum": ["local", "volume"]},
    "uuid": {"type": "string", "minLength": 1, "maxLength": 255,
             "pattern": "^[a-zA-Z0-9._-]*$"},
    "boot_index": {"type": ["integer", "string", "null"], "pattern": "^-?[0-9]+$"},
    "volume_size": {"type": ["integer", "string", "null"], "pattern": "^[0-9]+$",
                    "minimum": 0},
    "delete_on_termination": {"type": ["boolean", "string"],
                              "enum": [True, False, "True", "False", "true", "false",
                                       "1", "0", "yes", "no", "on", "off"]},
    "device_name": {"type": ["string", "null"], "maxLength": 255},
    "tag": {"type": "string", "minLength": 1, "maxLength": 60},
    "volume_type": {"type": ["string", "null"], "minLength": 0, "maxLength": 255},
    "guest_format": {"type": "string", "maxLength": 255},
    "device_type": {"type": "string", "maxLength": 255},
    "disk_bus": {"type": "string", "maxLength": 255},
    "no_device": {}, "connection_info": {}, "image_id": {}, "snapshot_id": {},
    "volume_id": {}}}
server_create = obj("server", {
    "name": name, "imageRef": {"type": "string", "maxLength": 255},
    "flavorRef": {"type": ["string", "integer"], "minLength": 1},
    "adminPass": {"type": "string"}, "metadata": metadata,
    "networks": networks, "OS-DCF:diskConfig": disk_config,
    "accessIPv4": ipv4, "accessIPv6": ipv6,
    "key_name": {"type": "string", "minLength": 1, "maxLength": 255},
    "user_data": {"type": "string", "format": "base64", "maxLength": 65535},
    "config_drive": {"type": ["boolean", "string"],
                     "enum": [True, False, "True", "False", "true", "false", ""]},
    "availability_zone": {"type": "string", "minLength": 1, "maxLength": 255},
    "min_count": positive_int, "max_count": positive_int,
    "return_reservation_id": {"type": ["boolean", "string"]},
    "security_groups": {"type": "array", "items": {"type": "object", "properties": {
        "name": {"type": "string"}}}},
    "description": description,
    "tags": {"type": "array", "items": tag, "maxItems": 50},
    "block_device_mapping_v2": {"type": "array", "items": block_device},
    "personality": {"type": "array"},
    "hostname": {"type": "string", "minLength": 1, "maxLength": 255},
}, ["name", "flavorRef"])
scheduler_hints = {"type": "object", "properties": {
    "group": {"type": "string", "format": "uuid"}}}
server_create["properties"].update({"os:scheduler_hints": scheduler_hints,
                                    "OS-SCH-HNT:scheduler_hints": scheduler_hints})
server_update = obj("server", {
    "name": name, "description": description, "accessIPv4": ipv4, "accessIPv6": ipv6,
    "OS-DCF:diskConfig": disk_config,
    "hostname": {"type": "string", "minLength": 1, "maxLength": 63}})

reboot = {"type": "object", "properties": {"type": {
    "type": "string", "enum": ["HARD", "Hard", "hard", "SOFT", "Soft", "soft"]}},
    "required": ["type"], "additionalProperties": False}
rebuild = {"type": "object", "properties": {
    "imageRef": {"type": "string", "minLength": 1}, "name": name, "adminPass":
    {"type": "string"}, "metadata": metadata, "preserve_ephemeral": {"type": "boolean"},
    "accessIPv4": ipv4, "accessIPv6": ipv6, "OS-DCF:diskConfig": disk_config,
    "description": description, "key_name": {"type": ["string", "null"]},
    "user_data": {"type": ["string", "null"], "format": "base64", "maxLength": 65535},
    "personality": {"type": "array"}, "trusted_image_certificates": {"type": ["array",
                                                                              "null"]},
    "hostname": {"type": "string"}},
    "required": ["imageRef"], "additionalProperties": False}
# evacuate (nova/api/openstack/compute/schemas/evacuate.py): onSharedStorage until 2.13,
# force from 2.29 to 2.67; host and adminPass in every version served
_evacuate_base: dict[str, Any] = {
    "host": {"type": "string", "minLength": 1, "maxLength": 255},
    "adminPass": {"type": "string"}}


def evacuate(shared_storage: bool, force: bool) -> dict[str, Any]:
    props = dict(_evacuate_base)
    if shared_storage:
        props["onSharedStorage"] = {"enum": BOOLISH}
    if force:
        props["force"] = {"enum": BOOLISH}
    body: dict[str, Any] = {"type": "object", "properties": props,
                            "additionalProperties": False}
    if shared_storage:
        body["required"] = ["onSharedStorage"]
    return body


def truthy(value: Any) -> bool:
    return str(value).lower() in ("true", "1", "yes", "on")


def migrate_live(auto: bool, force: bool) -> dict[str, Any]:
    """os-migrateLive (nova/api/openstack/compute/schemas/migrate_server.py): until 2.24
    block_migration and disk_over_commit are booleans; from 2.25 block_migration may be
    "auto" and disk_over_commit is gone; force from 2.30 to 2.67."""
    host = {"type": ["string", "null"], "minLength": 1, "maxLength": 255}
    props: dict[str, Any] = {"host": host}
    if auto:
        props["block_migration"] = {"enum": [*BOOLISH, "auto"]}
        required = ["block_migration", "host"]
    else:
        props["block_migration"] = {"enum": BOOLISH}
        props["disk_over_commit"] = {"enum": BOOLISH}
        required = ["block_migration", "disk_over_commit", "host"]
    if force:
        props["force"] = {"enum": BOOLISH}
    return {"type": "object", "properties": props, "required": required,
            "additionalProperties": False}


resize = {"type": "object", "properties": {
    "flavorRef": {"type": ["string", "integer"], "minLength": 1},
    "OS-DCF:diskConfig": disk_config}, "required": ["flavorRef"],
    "additionalProperties": False}
create_image = {"type": "object", "properties": {"name": name, "metadata": metadata},
                "required": ["name"], "additionalProperties": False}
console_output = {"type": ["object", "null"], "properties": {"length": {
    "type": ["integer", "string", "null"], "pattern": "^-?[0-9]+$", "minimum": -1}},
    "additionalProperties": False}
lock = {"type": ["object", "null"], "properties": {"locked_reason": {
    "type": "string", "minLength": 1, "maxLength": 255}}, "additionalProperties": False}
no_args = {"type": ["object", "null"], "additionalProperties": True}

tags = {"type": "object", "properties": {"tags": {"type": "array", "items": tag,
                                                  "maxItems": 50}},
        "required": ["tags"], "additionalProperties": False}
metadata_body = {"type": "object", "properties": {"metadata": metadata},
                 "required": ["metadata"], "additionalProperties": False}
meta_item = {"type": "object", "properties": {"meta": {**metadata, "minProperties": 1,
                                                       "maxProperties": 1}},
             "required": ["meta"], "additionalProperties": False}

_quota_values = {r: {"type": ["integer", "string"], "pattern": "^-?[0-9]+$", "minimum": -1,
                     "maximum": 2147483647} for r in (
    "instances", "cores", "ram", "metadata_items", "key_pairs", "server_groups",
    "server_group_members", "injected_files", "injected_file_content_bytes",
    "injected_file_path_bytes", "floating_ips", "fixed_ips", "security_groups",
    "security_group_rules")}
quota_update = obj("quota_set", {**_quota_values, "networks": _quota_values["instances"],
                                 "force": {"type": ["boolean", "string"]}})
quota_class_update = obj("quota_class_set", _quota_values)

server_group_create = obj("server_group", {
    "name": {"type": "string", "minLength": 1, "maxLength": 255},
    "policies": {"type": "array", "items": {"type": "string", "enum": [
        "affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"]},
        "minItems": 1, "maxItems": 1, "uniqueItems": True},
    "policy": {"type": "string", "enum": [
        "affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"]},
    "rules": {"type": "object", "properties": {"max_server_per_host": positive_int},
              "additionalProperties": False},
}, ["name"])

service_update = {"type": "object", "properties": {
    "status": {"type": "string", "enum": ["enabled", "disabled"]},
    "disabled_reason": {"type": "string", "minLength": 1, "maxLength": 255},
    "forced_down": {"type": "boolean"}}, "additionalProperties": False}
service_action = {"type": "object", "properties": {
    "host": {"type": "string", "minLength": 1, "maxLength": 255},
    "binary": {"type": "string", "minLength": 1, "maxLength": 255},
    "disabled_reason": {"type": "string", "minLength": 1, "maxLength": 255},
    "forced_down": {"type": "boolean"}}, "required": ["host", "binary"],
    "additionalProperties": False}

security_group = {"type": "object", "properties": {"security_group": {
    "type": "object", "properties": {"name": {}, "description": {}}}},
    "required": ["security_group"], "additionalProperties": False}
security_group_rule = {"type": "object", "properties": {"security_group_rule": {
    "type": "object", "properties": {
        "parent_group_id": {"type": ["string", "integer"]},
        "ip_protocol": {"type": ["string", "null"]},
        "from_port": {"type": ["integer", "string", "null"]},
        "to_port": {"type": ["integer", "string", "null"]},
        "cidr": {"type": ["string", "null"]},
        "group_id": {"type": ["string", "null"]}}}},
    "required": ["security_group_rule"], "additionalProperties": False}
security_group_action = {"type": "object", "properties": {"name": {
    "type": "string", "minLength": 1}}, "required": ["name"]}
interface_attach = {"type": "object", "properties": {"interfaceAttachment": {
    "type": "object", "properties": {
        "net_id": {"type": "string", "format": "uuid"},
        "port_id": {"type": "string", "format": "uuid"},
        "fixed_ips": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
            "type": "object", "properties": {"ip_address": {"type": "string", "oneOf": [
                ipv4, ipv6]}}, "required": ["ip_address"], "additionalProperties": False}},
        "tag": tag}, "additionalProperties": False}}, "additionalProperties": False}
