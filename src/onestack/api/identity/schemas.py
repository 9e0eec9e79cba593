"""Request bodies, as JSON schemas (Keystone's own validation rules)."""

from __future__ import annotations

from typing import Any

name = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"\S"}
name64 = {**name, "maxLength": 64}
id_string = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[a-zA-Z0-9-_]+\Z"}
nullable_id = {"type": ["string", "null"], "minLength": 1, "maxLength": 64}
description = {"type": ["string", "null"]}
enabled = {"type": "boolean"}
tag = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^,/]*$"}
tags = {"type": "array", "items": tag, "maxItems": 80, "uniqueItems": True}
password = {"type": ["string", "null"], "maxLength": 4096}
options = {"type": "object"}


def entity(key: str, props: dict[str, Any], required: list[str] | None = None,
           extra: bool = True) -> dict[str, Any]:
    inner: dict[str, Any] = {"type": "object", "properties": props,
                             "additionalProperties": extra}
    if required:
        inner["required"] = required
    else:
        inner["minProperties"] = 1
    return {"type": "object", "properties": {key: inner}, "required": [key]}


DOMAIN_PROPS = {"name": name64, "description": description, "enabled": enabled,
                "tags": tags, "options": options, "explicit_domain_id": id_string}
domain_create = entity("domain", DOMAIN_PROPS, ["name"])
domain_update = entity("domain", DOMAIN_PROPS)

PROJECT_PROPS = {"name": name64, "description": description, "enabled": enabled,
                 "domain_id": nullable_id, "parent_id": nullable_id, "is_domain": enabled,
                 "tags": tags, "options": options}
project_create = entity("project", PROJECT_PROPS, ["name"])
project_update = entity("project", {k: v for k, v in PROJECT_PROPS.items()})
project_tags = {"type": "object", "properties": {"tags": tags}, "required": ["tags"]}

USER_PROPS = {"name": name, "description": description, "enabled": enabled,
              "domain_id": nullable_id, "default_project_id": nullable_id,
              "password": password, "options": options, "federated": {"type": "array"}}
user_create = entity("user", USER_PROPS, ["name"])
user_update = entity("user", USER_PROPS)
password_change = entity("user", {"password": {"type": "string", "maxLength": 4096},
                                  "original_password": {"type": "string", "maxLength": 4096}},
                         ["password", "original_password"], extra=False)

GROUP_PROPS = {"name": name64, "description": description, "domain_id": nullable_id}
group_create = entity("group", GROUP_PROPS, ["name"])
group_update = entity("group", GROUP_PROPS)

ROLE_PROPS = {"name": name, "description": description, "domain_id": nullable_id,
              "options": options}
role_create = entity("role", ROLE_PROPS, ["name"])
role_update = entity("role", ROLE_PROPS)

REGION_PROPS = {"id": {"type": "string", "minLength": 1, "maxLength": 255},
                "description": description, "parent_region_id": {"type": ["string", "null"]}}
region_create = {"type": "object", "properties": {"region": {
    "type": "object", "properties": REGION_PROPS, "additionalProperties": True}},
    "required": ["region"]}
region_update = entity("region", REGION_PROPS)

SERVICE_PROPS = {"type": {"type": "string", "minLength": 1, "maxLength": 255},
                 "name": {"type": "string", "maxLength": 255}, "description": description,
                 "enabled": enabled}
service_create = entity("service", SERVICE_PROPS, ["type"])
service_update = entity("service", SERVICE_PROPS)

ENDPOINT_PROPS = {"interface": {"type": "string", "enum": ["public", "internal", "admin"]},
                  "url": {"type": "string", "minLength": 1, "maxLength": 225,
                          "pattern": "^[a-zA-Z0-9+.-]+://"},
                  "service_id": id_string, "region_id": {"type": ["string", "null"]},
                  "region": {"type": ["string", "null"]}, "enabled": enabled}
endpoint_create = entity("endpoint", ENDPOINT_PROPS, ["interface", "url", "service_id"])
endpoint_update = entity("endpoint", ENDPOINT_PROPS)

CREDENTIAL_PROPS = {"blob": {"type": "string"}, "type": {"type": "string", "minLength": 1},
                    "user_id": {"type": "string", "minLength": 1},
                    "project_id": {"type": ["string", "null"]}}
credential_create = entity("credential", CREDENTIAL_PROPS, ["blob", "type", "user_id"])
credential_update = entity("credential", CREDENTIAL_PROPS)
ec2_create = {"type": "object", "properties": {"tenant_id": {"type": "string", "minLength": 1},
                                               "project_id": {"type": "string"}},
              "anyOf": [{"required": ["tenant_id"]}, {"required": ["project_id"]}]}

role_ref = {"type": "object", "properties": {"id": {"type": "string"},
                                             "name": {"type": "string"}},
            "anyOf": [{"required": ["id"]}, {"required": ["name"]}]}
# Keystone's access rule: a rule of the user's by id, or (service, method, path); in the
# path '*' stands for one segment and '**' for any number of them.
access_rule = {"type": "object", "additionalProperties": False, "properties": {
    "id": {"type": "string", "minLength": 1, "maxLength": 64},
    "service": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[\w.-]+\Z"},
    "method": {"type": "string", "enum": ["HEAD", "GET", "POST", "PUT", "PATCH", "DELETE"]},
    "path": {"type": "string", "minLength": 1, "maxLength": 225, "pattern": r"^/"}}}
app_cred_create = entity("application_credential", {
    "name": name, "description": description, "secret": {"type": ["string", "null"]},
    "expires_at": {"type": ["string", "null"]}, "roles": {"type": "array", "items": role_ref},
    "unrestricted": {"type": ["boolean", "null"]},
    "access_rules": {"type": "array", "items": access_rule},
}, ["name"], extra=False)

_user_ref = {"type": "object", "properties": {
    "id": {"type": "string"}, "name": {"type": "string"},
    "password": {"type": ["string", "number"]},
    "domain": {"type": "object", "properties": {"id": {"type": "string"},
                                                "name": {"type": "string"}}}}}
_scope_ref = {"type": "object", "properties": {"id": {"type": "string"},
                                               "name": {"type": "string"},
                                               "domain": {"type": "object"}}}
token_issue = {
    "type": "object",
    "required": ["auth"],
    "properties": {"auth": {
        "type": "object",
        "required": ["identity"],
        "properties": {
            "identity": {
                "type": "object",
                "required": ["methods"],
                "properties": {
                    "methods": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    "password": {"type": "object", "required": ["user"],
                                 "properties": {"user": _user_ref}},
                    "token": {"type": "object", "required": ["id"],
                              "properties": {"id": {"type": "string"}}},
                    "application_credential": {"type": "object", "properties": {
                        "id": {"type": "string"}, "name": {"type": "string"},
                        "secret": {"type": "string"}, "user": _user_ref}},
                },
            },
            "scope": {"anyOf": [
                {"type": "string", "enum": ["unscoped"]},
                {"type": "object", "properties": {
                    "project": _scope_ref, "domain": _scope_ref,
                    "system": {"type": "object"},
                    "OS-TRUST:trust": {"type": "object"}}},
            ]},
        },
    }},
}

_trust_role = {"type": "object", "properties": {"id": {"type": "string", "minLength": 1},
                                                "name": {"type": "string", "minLength": 1}},
               "minProperties": 1, "maxProperties": 1, "additionalProperties": False}
trust_create = entity("trust", {
    "trustor_user_id": {"type": "string", "minLength": 1, "maxLength": 64},
    "trustee_user_id": {"type": "string", "minLength": 1, "maxLength": 64},
    "impersonation": {"type": "boolean"},
    "project_id": nullable_id,
    "remaining_uses": {"type": ["integer", "null"], "minimum": 1},
    "expires_at": {"type": ["string", "null"]},
    "allow_redelegation": {"type": ["boolean", "null"]},
    "redelegation_count": {"type": ["integer", "null"], "minimum": 0},
    "roles": {"type": "array", "items": _trust_role},
}, ["trustor_user_id", "trustee_user_id", "impersonation"])

_limit_value = {"type": "integer", "minimum": -1, "maximum": 2147483647}
_resource_name = {"type": "string", "minLength": 1, "maxLength": 255}
_REGISTERED_PROPS = {"service_id": id_string, "region_id": nullable_id,
                     "resource_name": _resource_name, "default_limit": _limit_value,
                     "description": description}
registered_limits_create = {"type": "object", "required": ["registered_limits"], "properties": {
    "registered_limits": {"type": "array", "minItems": 1, "items": {
        "type": "object", "properties": _REGISTERED_PROPS, "additionalProperties": False,
        "required": ["service_id", "resource_name", "default_limit"]}}}}
registered_limit_update = entity("registered_limit", _REGISTERED_PROPS, extra=False)
limits_create = {"type": "object", "required": ["limits"], "properties": {
    "limits": {"type": "array", "minItems": 1, "items": {
        "type": "object", "additionalProperties": False,
        "properties": {"project_id": nullable_id, "domain_id": nullable_id,
                       "service_id": id_string, "region_id": nullable_id,
                       "resource_name": _resource_name, "resource_limit": _limit_value,
                       "description": description},
        "required": ["service_id", "resource_name", "resource_limit"]}}}}
limit_update = entity("limit", {"resource_limit": _limit_value, "description": description},
                      extra=False)

_EP_GROUP_PROPS = {"name": name, "description": description,
                   "filters": {"type": "object", "minProperties": 1,
                               "additionalProperties": {"type": "string"}}}
endpoint_group_create = entity("endpoint_group", _EP_GROUP_PROPS, ["name", "filters"],
                               extra=False)
endpoint_group_update = entity("endpoint_group", _EP_GROUP_PROPS, extra=False)

POLICY_PROPS = {"type": {"type": "string", "minLength": 1, "maxLength": 255},
                "blob": {"type": "string"}}
policy_create = entity("policy", POLICY_PROPS, ["type", "blob"])
policy_update = entity("policy", POLICY_PROPS)

consumer_create = {"type": "object", "required": ["consumer"], "properties": {"consumer": {
    "type": "object", "properties": {"description": description}}}}
consumer_update = entity("consumer", {"description": description})
