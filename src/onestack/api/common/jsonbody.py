"""JSON response bodies, for every service: orjson where it can encode the body (several
times faster than the standard library on large listings), the standard library otherwise
(integers beyond 64 bits). Both give compact JSON; datetimes go to ``default`` as before."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson
from starlette.responses import Response

_OPTIONS = (orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
            | orjson.OPT_PASSTHROUGH_DATACLASS)


def dumps(body: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    try:
        return orjson.dumps(body, default=default, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(body, separators=(",", ":"), default=default).encode()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None,
                  media_type: str = "application/json",
                  default: Callable[[Any], Any] | None = None) -> Response:
    return Response(dumps(body, default), status_code=status, headers=headers,
                    media_type=media_type)
