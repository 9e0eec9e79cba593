"""Barbican's errors (``barbican/common/exception.py`` and the controllers' aborts), in the
one error tree: the API renders them as ``{"code", "title", "description"}``. No message
ever holds a payload."""

from __future__ import annotations

from onestack.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    OnestackError,
    PayloadTooLarge,
    UnsupportedMediaType,
)


class NotAcceptable(OnestackError):
    status = 406
    title = "Not Acceptable"


# 413 and 415 are the error tree's own (same status and title).
TooLarge = PayloadTooLarge


def invalid(schema: str, reason: str, prop: str | None) -> BadRequest:
    return BadRequest(f"Provided object does not match schema '{schema}': {reason}. "
                      f"Invalid property: '{prop}'")


def not_found(kind: str) -> NotFound:
    return NotFound(f"{kind} not found.")


def bad_query() -> BadRequest:
    return BadRequest("Provided query string parameters are not valid.")


def quota_reached(resource: str, limit: int) -> Forbidden:
    return Forbidden(f"Remaining quota for {resource} is zero (limit {limit}). Delete some "
                     f"{resource} or ask an administrator to raise the project's quota.")


def has_payload() -> Conflict:
    return Conflict("Secret already has data, cannot modify it.")


def meta_exists(key: str) -> Conflict:
    return Conflict(f"Secret metadata key '{key}' already exists; update it with PUT on its "
                    "URL.")


__all__ = ["BadRequest", "Conflict", "Forbidden", "NotAcceptable", "NotFound", "TooLarge",
           "UnsupportedMediaType", "bad_query", "has_payload", "invalid", "meta_exists",
           "not_found", "quota_reached"]
