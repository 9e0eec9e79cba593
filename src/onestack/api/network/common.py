"""What every Neutron collection shares: query parsing (filters, fields, sorting, paging),
request bodies (single and bulk) checked attribute by attribute, If-Match, list links."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from onestack.api.common.jsonbody import json_response
from onestack.api.common.request import ApiRequest
from onestack.core.network import errors
from onestack.core.network.listing import TAG_KEYS, ListQuery, Page

Check = Callable[[Any, str], Any]
CONTROL = {"fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse", *TAG_KEYS}
IF_MATCH = re.compile(r"\s*revision_number=(\d+)\s*")


def bad(name: str, reason: str) -> errors.HTTPBadRequest:
    return errors.HTTPBadRequest(f"Invalid input for {name}. Reason: {reason}.")


# --- attribute checks --------------------------------------------------------------------
def a_str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise bad(name, f"'{value}' is not a valid string")
    if len(value) > 255:
        raise bad(name, f"'{value[:40]}...' exceeds maximum length of 255")
    return value


def a_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise bad(name, f"'{value}' cannot be converted to boolean")


def a_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise bad(name, f"'{value}' is not an integer")
    if isinstance(value, int):
        if abs(value) > 2**31:
            raise bad(name, f"'{value}' is out of range")
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,10}", value.strip()):
        return int(value)
    raise bad(name, f"'{value}' is not an integer")


def a_list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise bad(name, f"'{value}' is not a list")
    return value


def a_dicts(value: Any, name: str) -> list[dict[str, Any]]:
    items = a_list(value, name)
    for item in items:
        if not isinstance(item, dict):
            raise bad(name, f"'{item}' is not a dictionary")
        for key, val in item.items():
            if not isinstance(val, str | None) and key not in ("enable_snat",):
                raise bad(name, f"'{val}' of {key} is not a valid string")
    return items


def a_strs(value: Any, name: str) -> list[str]:
    return [a_str(v, name) for v in a_list(value, name)]


def a_dict(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad(name, f"'{value}' is not a dictionary")
    return value


def a_any(value: Any, _name: str) -> Any:
    return value


def opt(check: Check) -> Check:
    def inner(value: Any, name: str) -> Any:
        return None if value is None else check(value, name)

    return inner


def a_tags(value: Any, name: str) -> list[str]:
    tags = a_strs(value, name)
    for tag in tags:
        if not tag or len(tag) > 255 or "," in tag or "/" in tag:
            raise bad(name, f"'{tag}' is not a valid tag")
    return tags


DHCP_OPT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def a_dhcp_opts(value: Any, name: str) -> list[dict[str, Any]]:
    """extra_dhcp_opts: [{opt_name, opt_value (None: remove it), ip_version (4)}]; a name
    dnsmasq knows or an option number, a value on one line."""
    out = []
    for item in a_list(value, name):
        if not isinstance(item, dict) or not set(item) <= {"opt_name", "opt_value",
                                                            "ip_version"}:
            raise bad(name, f"'{item}' is not a dictionary of opt_name, opt_value and "
                      "ip_version")
        opt = item.get("opt_name")
        if not isinstance(opt, str) or not DHCP_OPT_NAME.fullmatch(opt):
            raise bad(name, f"'{opt}' is not a valid opt_name")
        val = item.get("opt_value")
        if val is not None and (not isinstance(val, str) or len(val) > 255
                                or CONTROL_CHARS.search(val)):
            raise bad(name, f"'{val}' is not a valid opt_value of {opt}")
        version = item.get("ip_version", 4)
        if str(version) not in ("4", "6"):
            raise bad(name, f"'{version}' is not a valid ip_version of {opt}")
        out.append({"opt_name": opt, "opt_value": val, "ip_version": int(version)})
    return out


STANDARD_POST: dict[str, Check] = {"name": a_str, "description": a_str, "project_id": a_str,
                                   "tenant_id": a_str, "tags": a_tags}
STANDARD_PUT: dict[str, Check] = {"name": a_str, "description": a_str}


def check_attrs(item: Any, allowed: dict[str, Check], required: tuple[str, ...],
                resource: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise errors.HTTPBadRequest(f"Invalid input for {resource}: a JSON object is required")
    unknown = sorted(k for k in item if k not in allowed)
    if unknown:
        raise errors.HTTPBadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    for key in required:
        if key not in item:
            raise errors.HTTPBadRequest(
                f"Failed to parse request. Required attribute '{key}' not specified")
    out = {key: allowed[key](value, key) for key, value in item.items()}
    if "tenant_id" in out:
        tenant = out.pop("tenant_id")
        if out.get("project_id", tenant) != tenant:
            raise errors.HTTPBadRequest("tenant_id and project_id do not match")
        out["project_id"] = tenant
    return out


async def body_items(req: ApiRequest, singular: str, plural: str, allowed: dict[str, Check],
                     required: tuple[str, ...] = ()) -> tuple[list[dict[str, Any]], bool]:
    """The items of a create request: {singular: {...}} or bulk {plural: [{...}, ...]}."""
    body = await req.json()
    if isinstance(body, dict) and isinstance(body.get(plural), list) and len(body) == 1:
        if not body[plural]:
            raise errors.HTTPBadRequest(f"Resources required: {plural} is empty")
        return [check_attrs(i, allowed, required, singular) for i in body[plural]], True
    if isinstance(body, dict) and singular in body and len(body) == 1:
        return [check_attrs(body[singular], allowed, required, singular)], False
    raise errors.HTTPBadRequest(f"Unable to find '{singular}' in request body")


async def body_update(req: ApiRequest, singular: str, allowed: dict[str, Check]
                      ) -> dict[str, Any]:
    body = await req.json()
    if not isinstance(body, dict) or singular not in body or len(body) != 1:
        raise errors.HTTPBadRequest(f"Unable to find '{singular}' in request body")
    return check_attrs(body[singular], allowed, (), singular)


def if_match(req: ApiRequest) -> int | None:
    header = req.header("if-match")
    if header is None:
        return None
    wanted = None
    for part in header.split(","):
        m = IF_MATCH.fullmatch(part)
        if m is None:
            if part.strip() == "*":
                continue
            raise errors.HTTPBadRequest(
                f"If-Match header {header!r}: expected revision_number=<number>")
        wanted = int(m.group(1))
    return wanted


# --- listing -------------------------------------------------------------------------------
def list_query(req: ApiRequest) -> tuple[ListQuery, list[str]]:
    q = ListQuery()
    fields: list[str] = []
    keys: list[str] = []
    dirs: list[str] = []
    for key, value in req.query.multi_items():
        if key == "fields":
            fields.extend(f for f in value.split(",") if f)
        elif key == "sort_key":
            keys.append(value)
        elif key == "sort_dir":
            dirs.append(value)
        elif key == "limit":
            q.limit = a_int(value, "limit")
            if q.limit < 0:
                raise bad("limit", f"'{value}' must be a non-negative integer")
        elif key == "marker":
            q.marker = value
        elif key == "page_reverse":
            q.page_reverse = a_bool(value, "page_reverse")
        elif key in TAG_KEYS:
            q.tags[key] = [t for t in value.split(",") if t]
        else:
            q.filters.setdefault(key, []).append(value)
    if len(dirs) > len(keys):
        raise errors.HTTPBadRequest("The number of sort_keys and sort_dirs must be same")
    q.sort = [(k, dirs[i] if i < len(dirs) else "asc") for i, k in enumerate(keys)]
    return q, fields


def select_fields(item: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    if not fields:
        return item
    return {k: v for k, v in item.items() if k in fields}


def respond(body: Any, status: int = 200) -> Response:
    return json_response(body, status)


def no_content() -> Response:
    return Response(status_code=204)


def listing(req: ApiRequest, plural: str, items: list[dict[str, Any]], page: Page,
            q: ListQuery, fields: list[str]) -> Response:
    body: dict[str, Any] = {plural: [select_fields(i, fields) for i in items]}
    if q.limit:
        links = []
        base = str(req.http.url).split("?")[0]
        params = [(k, v) for k, v in req.query.multi_items()
                  if k not in ("marker", "page_reverse")]
        ids = [i["id"] for i in items]
        forward = not q.page_reverse
        more_after = page.has_more if forward else bool(q.marker)
        more_before = bool(q.marker) if forward else page.has_more
        if ids and more_after:
            links.append({"rel": "next", "href": base + "?" + urllib.parse.urlencode(
                [*params, ("marker", ids[-1])])})
        if ids and more_before:
            links.append({"rel": "previous", "href": base + "?" + urllib.parse.urlencode(
                [*params, ("marker", ids[0]), ("page_reverse", "True")])})
        if links:
            body[f"{plural}_links"] = links
    return respond(body)
