"""Query-string parsing shared by the listings: resources, traits, member_of, in_tree."""

from __future__ import annotations

import re
import uuid as uuidlib

from onestack.api.common.request import ApiRequest
from onestack.scheduler.errors import BadQuery
from onestack.scheduler.names import ANY_NAME
from onestack.scheduler.providers import MemberOf

Version = tuple[int, int]


def check_uuid(value: str, what: str) -> str:
    try:
        return str(uuidlib.UUID(value))
    except ValueError as exc:
        raise BadQuery(f"Invalid query string parameters: Expected '{what}' parameter to be "
                       f"a valid UUID, got {value!r}.") from exc


def resources(text: str, what: str = "resources") -> dict[str, int]:
    out: dict[str, int] = {}
    if not text.strip():
        raise BadQuery(f"Badly formed {what} parameter: it is empty.")
    for part in text.split(","):
        rc, sep, amount = part.strip().partition(":")
        rc = rc.strip()
        if not sep or not ANY_NAME.match(rc) or not re.fullmatch(r"\s*\d+\s*", amount):
            raise BadQuery(f"Badly formed {what} parameter. Expected {what} query string "
                           f"parameter in form: ?{what}=VCPU:2,MEMORY_MB:1024. Got: {text}.")
        if rc in out:
            raise BadQuery(f"Badly formed {what} parameter: resource class {rc} is repeated.")
        n = int(amount)
        if n < 1 or n > 2147483647:
            raise BadQuery(f"Requested resource {rc} expected positive integer amount. "
                           f"Got: {n}.")
        out[rc] = n
    return out


def traits(values: list[str], v: Version, what: str = "required"
           ) -> tuple[list[list[str]], list[str]]:
    """(all of [any of ...], forbidden) from one or more `required` values."""
    required: list[list[str]] = []
    forbidden: list[str] = []
    for value in values:
        if v >= (1, 39) and value.startswith("in:"):
            names = [t.strip() for t in value[3:].split(",")]
            _check_names(names, value, what)
            required.append(names)
            continue
        for raw in value.split(","):
            name = raw.strip()
            negated = name.startswith("!") and v >= (1, 22)
            name = name[1:] if negated else name
            _check_names([name], value, what)
            (forbidden.append(name) if negated else required.append([name]))
    return required, forbidden


def _check_names(names: list[str], value: str, what: str) -> None:
    for name in names:
        if not name or not ANY_NAME.match(name):
            raise BadQuery(f"Invalid query string parameters: '{what}' has an invalid trait "
                           f"name in {value!r}.")


def member_of(values: list[str], v: Version, what: str = "member_of") -> list[MemberOf]:
    if len(values) > 1 and v < (1, 24):
        raise BadQuery(f"Multiple {what} parameters are not supported before 1.24.")
    out = []
    for value in values:
        negated = value.startswith("!") and v >= (1, 32)
        text = value[1:] if negated else value
        if text.startswith("in:"):
            if negated:
                aggs = [check_uuid(a, what) for a in text[3:].split(",")]
                out += [MemberOf([a], True) for a in aggs]
                continue
            text = text[3:]
        aggs = [check_uuid(a.strip(), what) for a in text.split(",")]
        if negated and len(aggs) > 1:
            raise BadQuery(f"Invalid query string parameters: '!' must precede 'in:' to "
                           f"forbid several aggregates in {what}.")
        out.append(MemberOf(aggs, negated))
    return out


def single(req: ApiRequest, key: str) -> str | None:
    values = req.query.getlist(key)
    if len(values) > 1:
        from onestack.scheduler.errors import DuplicateQueryKey

        raise DuplicateQueryKey(f"Query parameter {key!r} is repeated.")
    return values[0] if values else None


def check_known(req: ApiRequest, allowed: set[str], pattern: str | None = None) -> None:
    for key in req.query:
        if key not in allowed and not (pattern and re.fullmatch(pattern, key)):
            raise BadQuery(f"Invalid query string parameters: Additional properties are not "
                           f"allowed ('{key}' was unexpected).")
