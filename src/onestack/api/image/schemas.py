"""Glance's JSON schemas: the documents served at /v2/schemas/*, and request validation.

The image schema is both what clients read from ``/v2/schemas/image`` and what create and
patch requests are checked against (extra properties are strings, as in Glance).
"""

from __future__ import annotations

import copy
from typing import Any

from onestack.api.image.metadef_schemas import TASK_DOCUMENTS
from onestack.core.image.formats import CONTAINER_FORMATS, DISK_FORMATS

UUID_PATTERN = ("^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-"
                "([0-9a-fA-F]){12}$")
MAX_INT = 2**31 - 1
EXTRA_VALUE: dict[str, Any] = {"type": "string", "maxLength": 65535}


def _ro(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "readOnly": True}


IMAGE_PROPERTIES: dict[str, Any] = {
    "id": {"type": "string", "pattern": UUID_PATTERN,
           "description": "An identifier for the image"},
    "name": {"type": ["null", "string"], "maxLength": 255,
             "description": "Descriptive name for the image"},
    "status": _ro({"type": "string", "enum": ["queued", "saving", "active", "killed",
                                               "deleted", "uploading", "importing",
                                               "pending_delete", "deactivated"],
                   "description": "Status of the image"}),
    "visibility": {"type": "string", "enum": ["community", "public", "private", "shared"],
                   "description": "Scope of image accessibility"},
    "protected": {"type": "boolean",
                  "description": "If true, image will not be deletable."},
    "os_hidden": {"type": "boolean",
                  "description": "If true, image will not appear in default image list "
                                 "response."},
    "checksum": _ro({"type": ["null", "string"], "maxLength": 32,
                     "description": "md5 hash of image contents."}),
    "os_hash_algo": _ro({"type": ["null", "string"], "maxLength": 64,
                         "description": "Algorithm to calculate the os_hash_value"}),
    "os_hash_value": _ro({"type": ["null", "string"], "maxLength": 128,
                          "description": "Hexdigest of the image contents using the "
                                         "algorithm specified by the os_hash_algo"}),
    "owner": {"type": ["null", "string"], "maxLength": 255,
              "description": "Owner of the image"},
    "size": _ro({"type": ["null", "integer"],
                 "description": "Size of image file in bytes"}),
    "virtual_size": _ro({"type": ["null", "integer"],
                         "description": "Virtual size of image in bytes"}),
    "container_format": {"type": ["null", "string"], "enum": [None, *CONTAINER_FORMATS],
                         "description": "Format of the container"},
    "disk_format": {"type": ["null", "string"], "enum": [None, *DISK_FORMATS],
                    "description": "Format of the disk"},
    "created_at": _ro({"type": "string", "description": "Date and time of image "
                                                         "registration"}),
    "updated_at": _ro({"type": "string", "description": "Date and time of the last image "
                                                         "modification"}),
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 255},
             "description": "List of strings related to the image"},
    "direct_url": _ro({"type": "string", "description": "URL to access the image file kept "
                                                        "in external store"}),
    "min_ram": {"type": "integer", "minimum": 0, "maximum": MAX_INT,
                "description": "Amount of ram (in MB) required to boot image."},
    "min_disk": {"type": "integer", "minimum": 0, "maximum": MAX_INT,
                 "description": "Amount of disk space (in GB) required to boot image."},
    "self": _ro({"type": "string", "description": "An image self url"}),
    "file": _ro({"type": "string", "description": "An image file url"}),
    "stores": _ro({"type": "string", "description": "Store in which image data resides."}),
    "schema": _ro({"type": "string", "description": "An image schema url"}),
    "locations": {"type": "array", "items": {"type": "object", "properties": {
        "url": {"type": "string", "maxLength": 255},
        "metadata": {"type": "object"}}, "required": ["url", "metadata"]},
        "description": "A set of URLs to access the image file kept in external store"},
    "kernel_id": {"type": ["null", "string"], "pattern": UUID_PATTERN, "is_base": False,
                  "description": "ID of image stored in Glance that should be used as the "
                                 "kernel when booting an AMI-style image."},
    "ramdisk_id": {"type": ["null", "string"], "pattern": UUID_PATTERN, "is_base": False,
                   "description": "ID of image stored in Glance that should be used as the "
                                  "ramdisk when booting an AMI-style image."},
    "instance_uuid": {"type": "string", "is_base": False,
                      "description": "Metadata which can be used to record which instance "
                                     "this image is associated with."},
    "architecture": {"type": "string", "is_base": False,
                     "description": "Operating system architecture"},
    "os_distro": {"type": "string", "is_base": False,
                  "description": "Common name of operating system distribution"},
    "os_version": {"type": "string", "is_base": False,
                   "description": "Operating system version as specified by the "
                                  "distributor"},
}

IMAGE_SCHEMA: dict[str, Any] = {
    "name": "image",
    "properties": IMAGE_PROPERTIES,
    "additionalProperties": {"type": "string"},
    "links": [
        {"rel": "self", "href": "{self}"},
        {"rel": "enclosure", "href": "{file}"},
        {"rel": "describedby", "href": "{schema}"},
    ],
}

IMAGES_SCHEMA: dict[str, Any] = {
    "name": "images",
    "properties": {
        "images": {"type": "array", "items": IMAGE_SCHEMA},
        "schema": {"type": "string"},
        "first": {"type": "string"},
        "next": {"type": "string"},
    },
    "links": [
        {"rel": "first", "href": "{first}"},
        {"rel": "next", "href": "{next}"},
        {"rel": "describedby", "href": "{schema}"},
    ],
}

MEMBER_SCHEMA: dict[str, Any] = {
    "name": "member",
    "properties": {
        "created_at": {"type": "string", "description": "Date and time of image member "
                                                        "creation"},
        "image_id": {"type": "string", "pattern": UUID_PATTERN,
                     "description": "An identifier for the image"},
        "member_id": {"type": "string", "description": "An identifier for the image "
                                                       "member (tenantId)"},
        "status": {"type": "string", "enum": ["pending", "accepted", "rejected"],
                   "description": "The status of this image member"},
        "updated_at": {"type": "string", "description": "Date and time of last "
                                                        "modification of image member"},
        "schema": {"type": "string", "readOnly": True},
    },
}

MEMBERS_SCHEMA: dict[str, Any] = {
    "name": "members",
    "properties": {
        "members": {"type": "array", "items": MEMBER_SCHEMA},
        "schema": {"type": "string"},
    },
    "links": [{"rel": "describedby", "href": "{schema}"}],
}

DOCUMENTS = {"image": IMAGE_SCHEMA, "images": IMAGES_SCHEMA, "member": MEMBER_SCHEMA,
             "members": MEMBERS_SCHEMA, **TASK_DOCUMENTS}


def _settable(props: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in props.items():
        if value.get("readOnly") or key == "locations":
            continue
        out[key] = {k: v for k, v in value.items()
                    if k not in ("description", "is_base", "readOnly")}
    return out


SETTABLE = _settable(IMAGE_PROPERTIES)

image_create: dict[str, Any] = {
    "type": "object",
    "properties": copy.deepcopy(SETTABLE),
    "additionalProperties": EXTRA_VALUE,
    "propertyNames": {"maxLength": 255},
}


def value_schema(name: str) -> dict[str, Any]:
    """What a JSON-patch value for this attribute must look like."""
    return SETTABLE.get(name, EXTRA_VALUE)


member_create: dict[str, Any] = {
    "type": "object",
    "properties": {"member": {"type": "string", "minLength": 1, "maxLength": 255}},
    "required": ["member"],
}

member_update: dict[str, Any] = {
    "type": "object",
    "properties": {"status": {"type": "string", "enum": ["pending", "accepted", "rejected"]}},
    "required": ["status"],
}

image_import: dict[str, Any] = {
    "type": "object",
    "properties": {
        "method": {"type": "object", "properties": {
            "name": {"type": "string"},
            "uri": {"type": "string"},
            "glance_image_id": {"type": "string"},
            "glance_region": {"type": "string"},
            "glance_service_interface": {"type": "string"},
        }, "required": ["name"]},
        "stores": {"type": "array", "items": {"type": "string"}},
        "all_stores": {"type": "boolean"},
        "all_stores_must_succeed": {"type": "boolean"},
    },
    "required": ["method"],
}
