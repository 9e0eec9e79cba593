"""Checks of a backup request's fields: Cinder's 400 naming the field."""

from __future__ import annotations

from typing import Any

from onestack.errors import BadRequest


def flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {value}. "
                         f"{value!r} is not of type 'boolean'")
    return text in ("true", "1", "yes", "on")


def text(body: dict[str, Any], key: str, limit: int = 255) -> str | None:
    value = body.get(key)
    if value is not None and (not isinstance(value, str) or len(value) > limit):
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {value}. "
                         f"{key} must be a string of at most {limit} characters")
    return value
