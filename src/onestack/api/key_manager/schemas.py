"""Request validation as Barbican's validators (``barbican/common/validators.py``): each
refusal names the schema and the property, and never repeats a payload."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from typing import Any

from onestack.core.key_manager import errors
from onestack.core.key_manager.rules import (
    CONTAINER_TYPES,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    ORDER_TYPES,
    QUOTA_RESOURCES,
    RSA_BITS,
    SECRET_TYPES,
    SORT_KEYS,
    SUPPORTED,
    SYMMETRIC_BITS,
    encodings_for,
    normalize_content_type,
)
from onestack.core.key_manager.secrets import NewSecret, SecretQuery
from onestack.db.models.base import utcnow

SMALLINT = 32767
_STRINGS = ("name", "algorithm", "mode", "expiration", "payload_content_type")
_UUID = re.compile(r"^[0-9a-fA-F-]{32,36}$")


def _obj(data: Any, schema: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise errors.invalid(schema, "the body must be a JSON object", None)
    return data


def _string(data: dict[str, Any], key: str, schema: str, nullable: bool = True
            ) -> str | None:
    value = data.get(key)
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise errors.invalid(schema, f"'{key}' must be a string", key)
    if len(value) > 255:
        raise errors.invalid(schema, f"'{key}' is longer than 255 characters", key)
    return value


def parse_time(value: str, schema: str, prop: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise errors.invalid(schema, f"Invalid date for '{prop}'", prop) from None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when


def _expiration(data: dict[str, Any], schema: str) -> dt.datetime | None:
    raw = _string(data, "expiration", schema)
    if not raw or not raw.strip():
        return None
    when = parse_time(raw, schema, "expiration")
    if when <= utcnow():
        raise errors.invalid(schema, "'expiration' is before current time", "expiration")
    return when


def decode_payload(payload: str | bytes, content_type: str, encoding: str | None,
                   schema: str, limit: int) -> bytes:
    try:
        raw = payload.encode() if isinstance(payload, str) else payload
    except UnicodeEncodeError:
        raise errors.invalid(schema, "'payload' is not valid UTF-8 text", "payload") from None
    if encoding == "base64":
        try:
            raw = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise errors.invalid(schema, "Invalid payload for payload_content_encoding",
                                 "payload") from None
    if len(raw) > limit:
        raise errors.TooLarge(f"Provided information too large to process: the secret "
                              f"payload is {len(raw)} bytes, more than the {limit} bytes "
                              "allowed.")
    return raw


def content_type(value: Any, schema: str) -> str:
    normal = normalize_content_type(value) if isinstance(value, str) else None
    if normal is None:
        raise errors.invalid(schema, f"payload_content_type is not one of {SUPPORTED}",
                             "payload_content_type")
    return normal


def check_encoding(ctype: str, encoding: Any, schema: str) -> None:
    allowed = encodings_for(ctype)
    if (allowed is None and encoding is not None) or (
            allowed is not None and encoding is not None and encoding not in allowed):
        raise errors.invalid(schema, f"payload_content_encoding is not one of {allowed}",
                             "payload_content_encoding")


def new_secret(data: Any, limit: int, schema: str = "Secret") -> NewSecret:
    data = _obj(data, schema)
    for key in _STRINGS:
        _string(data, key, schema)
    bits = data.get("bit_length")
    if bits is not None and (not isinstance(bits, int) or isinstance(bits, bool)
                             or not 1 <= bits <= SMALLINT):
        raise errors.invalid(schema, f"'bit_length' must be an integer from 1 to {SMALLINT}",
                             "bit_length")
    stype = data.get("secret_type", "opaque")
    if stype not in SECRET_TYPES:
        raise errors.invalid(schema, f"'secret_type' must be one of {list(SECRET_TYPES)}",
                             "secret_type")
    encoding = data.get("payload_content_encoding")
    if encoding is not None and encoding != "base64":
        raise errors.invalid(schema, "payload_content_encoding must be 'base64'",
                             "payload_content_encoding")
    name = _string(data, "name", schema)
    out = NewSecret(name=name.strip() if name else None, secret_type=stype,
                    algorithm=data.get("algorithm"), bit_length=bits, mode=data.get("mode"),
                    expiration=_expiration(data, schema))
    if "payload" in data:
        raw_type = data.get("payload_content_type")
        if raw_type is None:
            raise errors.invalid(schema, "If 'payload' is supplied, 'payload_content_type' "
                                 "must also be supplied.", "payload_content_type")
        ctype = content_type(raw_type, schema)
        check_encoding(ctype, encoding, schema)
        payload = data["payload"]
        if not isinstance(payload, str):
            raise errors.invalid(schema, "'payload' must be a string", "payload")
        payload = payload.strip()
        if not payload:
            raise errors.invalid(schema, "If 'payload' specified, must be non empty",
                                 "payload")
        out.payload = decode_payload(payload, ctype, encoding, schema, limit)
        out.content_type = ctype
    elif data.get("payload_content_type") is not None:
        raise errors.invalid(schema, "payload must be provided when payload_content_type "
                             "is specified", "payload")
    return out


def ref_id(value: Any, kind: str, schema: str, prop: str) -> str:
    """The id at the end of a ``.../v1/<kind>/<id>`` reference."""
    ident = value.rstrip("/").rsplit("/", 1)[-1] if isinstance(value, str) else ""
    if not _UUID.match(ident) or (isinstance(value, str) and "/" in value
                                  and f"/{kind}/" not in value):
        raise errors.invalid(schema, f"'{prop}' must be a {kind[:-1]} reference "
                             f"(.../v1/{kind}/<id>)", prop)
    return ident


def container(data: Any) -> tuple[str | None, str, list[tuple[str, str]]]:
    data = _obj(data, "Container")
    ctype = data.get("type", "generic")
    if ctype not in CONTAINER_TYPES:
        raise errors.invalid("Container", f"'type' must be one of {list(CONTAINER_TYPES)}",
                             "type")
    name = _string(data, "name", "Container")
    refs = data.get("secret_refs", [])
    if not isinstance(refs, list):
        raise errors.invalid("Container", "'secret_refs' must be a list", "secret_refs")
    out = [container_ref(r, "Container") for r in refs]
    return name, ctype, out


def container_ref(item: Any, schema: str) -> tuple[str, str]:
    if not isinstance(item, dict) or not isinstance(item.get("name", ""), str):
        raise errors.invalid(schema, "each secret reference must be an object with a "
                             "'secret_ref' and a string 'name'", "secret_refs")
    return (item.get("name") or "",
            ref_id(item.get("secret_ref"), "secrets", schema, "secret_ref"))


def order(data: Any, limit: int) -> tuple[str, dict[str, Any], NewSecret]:
    data = _obj(data, "Order")
    otype = data.get("type")
    if otype not in ORDER_TYPES:
        raise errors.invalid("Order", f"'type' must be one of {list(ORDER_TYPES)}", "type")
    meta = data.get("meta")
    if not isinstance(meta, dict):
        raise errors.invalid("Order", "'meta' must be an object", "meta")
    schema = "Order"
    spec = new_secret({k: v for k, v in meta.items() if k in (
        "name", "algorithm", "mode", "bit_length", "expiration")}, limit, schema)
    alg = (spec.algorithm or "").lower()
    ctype = meta.get("payload_content_type", "application/octet-stream")
    if otype == "key":
        if alg != "aes":
            raise errors.invalid(schema, "key orders generate 'aes' keys only", "algorithm")
        if spec.bit_length not in SYMMETRIC_BITS:
            raise errors.invalid(schema, f"'bit_length' must be one of {list(SYMMETRIC_BITS)}"
                                 " for aes", "bit_length")
        if content_type(ctype, schema) != "application/octet-stream":
            raise errors.invalid(schema, "key orders make application/octet-stream secrets",
                                 "payload_content_type")
        spec.content_type = "application/octet-stream"
    else:
        if alg != "rsa":
            raise errors.invalid(schema, "asymmetric orders generate 'rsa' key pairs only",
                                 "algorithm")
        if spec.bit_length not in RSA_BITS:
            raise errors.invalid(schema, f"'bit_length' must be one of {list(RSA_BITS)} for "
                                 "rsa", "bit_length")
        passphrase = meta.get("passphrase")
        if passphrase is not None and (not isinstance(passphrase, str) or not passphrase):
            raise errors.invalid(schema, "'passphrase' must be a non-empty string",
                                 "passphrase")
    return otype, meta, spec


def acl(data: Any) -> tuple[list[str] | None, bool | None]:
    data = _obj(data, "ACL")
    unknown = sorted(set(data) - {"read"})
    if unknown:
        raise errors.invalid("ACL", f"only the 'read' operation has an ACL, not {unknown}",
                             unknown[0])
    read = data.get("read", {})
    if not isinstance(read, dict):
        raise errors.invalid("ACL", "'read' must be an object", "read")
    users, access = read.get("users"), read.get("project-access")
    if users is not None and (not isinstance(users, list) or not all(
            isinstance(u, str) and 0 < len(u) <= 64 for u in users)):
        raise errors.invalid("ACL", "'users' must be a list of user ids", "users")
    if access is not None and not isinstance(access, bool):
        raise errors.invalid("ACL", "'project-access' must be true or false",
                             "project-access")
    return users, access


def quotas(data: Any) -> dict[str, int]:
    data = _obj(data, "ProjectQuotas")
    inner = data.get("project_quotas")
    if not isinstance(inner, dict):
        raise errors.invalid("ProjectQuotas", "'project_quotas' must be an object",
                             "project_quotas")
    out = {}
    for key, value in inner.items():
        if key not in QUOTA_RESOURCES:
            raise errors.invalid("ProjectQuotas", f"unknown quota; known: "
                                 f"{list(QUOTA_RESOURCES)}", key)
        if not isinstance(value, int) or isinstance(value, bool) or not -1 <= value < 2**31:
            raise errors.invalid("ProjectQuotas", "a quota is an integer, -1 for no limit",
                                 key)
        out[key] = value
    return out


def metadata(data: Any) -> dict[str, str]:
    meta = _obj(data, "SecretMetadata").get("metadata")
    if not isinstance(meta, dict):
        raise errors.invalid("SecretMetadata", "'metadata' must be an object", "metadata")
    return {check_meta_key(k): meta_value(v) for k, v in meta.items()}


def check_meta_key(key: Any) -> str:
    if not isinstance(key, str) or not key or len(key) > 255:
        raise errors.invalid("SecretMetadatum", "keys are strings of 1 to 255 characters",
                             "key")
    return key.lower()


def meta_value(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 255:
        raise errors.invalid("SecretMetadatum", "values are strings of up to 255 characters",
                             "value")
    return value


def metadatum(data: Any) -> tuple[str, str]:
    data = _obj(data, "SecretMetadatum")
    return check_meta_key(data.get("key")), meta_value(data.get("value"))


def consumer(data: Any, secret: bool) -> tuple[str, str, str]:
    schema = "SecretConsumer" if secret else "Consumer"
    data = _obj(data, schema)
    keys = ("service", "resource_type", "resource_id") if secret else ("name", "URL")
    values = []
    for key in keys:
        value = data.get(key)
        if not isinstance(value, str) or not value or len(value) > 255:
            raise errors.invalid(schema, f"'{key}' must be a non-empty string", key)
        values.append(value)
    return values[0], values[1], values[2] if secret else ""


def paging(query: Any) -> tuple[int, int]:
    """Barbican's ``clean_paging_values``: bad values fall back to the defaults."""
    try:
        offset = max(0, int(query.get("offset", 0)))
    except ValueError:
        offset = 0
    try:
        limit = int(query.get("limit", DEFAULT_LIMIT))
    except ValueError:
        limit = DEFAULT_LIMIT
    return offset, min(max(limit, 1), MAX_LIMIT)


def secret_query(query: Any) -> SecretQuery:
    offset, limit = paging(query)
    try:
        bits = int(query.get("bits", 0))
    except ValueError:
        bits = 0  # as Barbican: a bad value is no filter
    out = SecretQuery(name=query.get("name") or None, alg=query.get("alg") or None,
                      mode=query.get("mode") or None, bits=bits,
                      secret_type=query.get("secret_type") or None,
                      acl_only=str(query.get("acl_only", "")).lower() == "true",
                      offset=offset, limit=limit)
    for key, column in (("created", "created_at"), ("updated", "updated_at"),
                        ("expiration", "expiration")):
        for part in (query.get(key) or "").split(","):
            if part:
                op, sep, when = part.partition(":")
                if not sep or op not in ("gt", "gte", "lt", "lte"):
                    op, when = "eq", part
                try:
                    out.dates.append((column, op, parse_time(when, "", key)))
                except errors.BadRequest:
                    raise errors.bad_query() from None
    seen = set()
    for part in (query.get("sort") or "").split(","):
        if part:
            key, _, way = part.partition(":")
            if key not in SORT_KEYS or way not in ("", "asc", "desc") or key in seen:
                raise errors.bad_query()
            seen.add(key)
            out.sort.append((SORT_KEYS[key], way == "desc"))
    return out
