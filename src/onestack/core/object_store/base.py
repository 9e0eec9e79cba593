"""Swift's constraints, timestamps, metadata headers and the errors only Swift speaks."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime

from onestack.errors import BadRequest, OnestackError, PreconditionFailed

RESELLER_PREFIX = "AUTH_"
DEFAULT_POLICY = "Policy-0"


@dataclass(frozen=True)
class Constraints:
    """What /info advertises under "swift" and what every request is checked against."""

    max_file_size: int = 5 * 1024**3
    max_meta_name_length: int = 128
    max_meta_value_length: int = 256
    max_meta_count: int = 90
    max_meta_overall_size: int = 4096
    max_header_size: int = 8192
    max_object_name_length: int = 1024
    container_listing_limit: int = 10000
    account_listing_limit: int = 10000
    max_account_name_length: int = 256
    max_container_name_length: int = 256
    extra_header_count: int = 0
    # middleware limits
    max_manifest_segments: int = 1000
    max_manifest_size: int = 8 * 1024 * 1024
    min_segment_size: int = 1
    max_bulk_deletes: int = 10000
    max_containers_per_extraction: int = 10000
    max_failed_extractions: int = 1000
    max_dlo_segments: int = 10000
    # not advertised: what one extract-archive may expand to
    max_extracted_bytes: int = 5 * 1024**3
    max_objects_per_extraction: int = 100000


CONSTRAINTS = Constraints()


class LengthRequired(OnestackError):
    status = 411
    title = "Length Required"


class UnprocessableEntity(OnestackError):
    status = 422
    title = "Unprocessable Entity"


class RangeNotSatisfiable(OnestackError):
    status = 416
    title = "Requested Range Not Satisfiable"


class NotModified(OnestackError):
    """Not an error: the answer to a conditional GET; carries the object's headers."""

    status = 304
    title = "Not Modified"


# --- timestamps ----------------------------------------------------------------------------
def now() -> float:
    return round(time.time(), 5)


def x_timestamp(ts: float) -> str:
    """Swift's normalized X-Timestamp: 10 digits, a dot, 5 digits."""
    return f"{ts:016.5f}"


def http_date(ts: float) -> str:
    """Last-Modified: whole seconds, rounded up as Swift does."""
    return formatdate(math.ceil(ts), usegmt=True)


def iso_listing(ts: float) -> str:
    """last_modified in listings: 2016-03-24T11:40:47.620900 (UTC, no zone).

    What ``datetime.fromtimestamp(ts, UTC).strftime(...)`` gives (microseconds rounded half
    to even). A listing formats thousands of them, and objects written together share their
    second: its text is remembered."""
    secs = int(ts)
    micros = round((ts - secs) * 1e6)
    if micros >= 1000000:
        secs, micros = secs + 1, micros - 1000000
    return f"{_second(secs)}{micros:06d}"


@functools.lru_cache(maxsize=4096)
def _second(secs: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(secs))


def parse_http_date(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


# --- metadata headers ----------------------------------------------------------------------
def meta_updates(headers: Mapping[str, str], kind: str) -> dict[str, str | None]:
    """X-<Kind>-Meta-Foo: v -> {"foo": "v"}; X-Remove-<Kind>-Meta-Foo -> None, and so is an
    empty value on an account or container. An object keeps an empty value (Swift stores
    an object's metadata as sent).

    Keys are lower case (HTTP header names are case-insensitive).
    """
    set_prefix = f"x-{kind}-meta-"
    remove_prefix = f"x-remove-{kind}-meta-"
    out: dict[str, str | None] = {}
    for name in headers:
        low = name.lower()
        if low.startswith(remove_prefix) and low != remove_prefix:
            out.setdefault(low[len(remove_prefix):], None)
    for name, value in headers.items():
        low = name.lower()
        if low.startswith(set_prefix) and low != set_prefix:
            out[low[len(set_prefix):]] = value.strip() or (None if kind != "object" else "")
    return out


def check_metadata(meta: Mapping[str, str], kind: str) -> None:
    """Swift's metadata limits: 400 when a name, value, count or the total is too large."""
    c = CONSTRAINTS
    total = 0
    count = 0
    for key, value in meta.items():
        count += 1
        total += len(key.encode()) + len(value.encode())
        if len(key.encode()) > c.max_meta_name_length:
            raise BadRequest(f"Metadata name too long: X-{kind.title()}-Meta-{key}")
        if len(value.encode()) > c.max_meta_value_length:
            raise BadRequest(f"Metadata value longer than {c.max_meta_value_length}: "
                             f"X-{kind.title()}-Meta-{key}")
    if count > c.max_meta_count:
        raise BadRequest(f"Too many metadata items; max {c.max_meta_count}")
    if total > c.max_meta_overall_size:
        raise BadRequest(f"Total metadata too large; max {c.max_meta_overall_size}")


def apply_meta(current: Mapping[str, str], updates: Mapping[str, str | None]) -> dict[str, str]:
    out = dict(current)
    for key, value in updates.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def parse_int_header(value: str | None, name: str, minimum: int = 0) -> int | None:
    if value is None or value.strip() == "":
        return None
    try:
        number = int(value.strip())
    except ValueError as exc:
        raise BadRequest(f"Invalid {name}: {value!r} is not an integer.") from exc
    if number < minimum:
        raise BadRequest(f"Invalid {name}: must be at least {minimum}.")
    return number


def check_name(value: str, kind: str) -> None:
    limit = (CONSTRAINTS.max_container_name_length if kind == "container"
             else CONSTRAINTS.max_object_name_length)
    if "\x00" in value:
        raise PreconditionFailed("Invalid UTF8 or contains NULL")
    try:
        size = len(value.encode())
    except UnicodeEncodeError as exc:
        raise PreconditionFailed("Invalid UTF8 or contains NULL") from exc
    if size > limit:
        raise BadRequest(f"{kind.title()} name length of {size} longer than {limit}")
    if kind == "container" and "/" in value:
        raise BadRequest("Container name cannot contain slashes")
