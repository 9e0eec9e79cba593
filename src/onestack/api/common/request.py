"""The request object handlers receive: context, path params, validated body, query."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import jsonschema
from starlette.datastructures import QueryParams
from starlette.requests import Request

from onestack.context import RequestContext
from onestack.errors import BadRequest, ValidationError

if TYPE_CHECKING:
    from onestack.api.app import Runtime
    from onestack.api.common.routing import Route, ServiceApi

_validators: dict[int, jsonschema.protocols.Validator] = {}
MAX_BODY = 1024 * 1024  # JSON bodies; uploads stream and are not read through here


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    v = _validators.get(id(schema))
    if v is None:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        v = cls(schema, format_checker=jsonschema.FormatChecker())
        _validators[id(schema)] = v
    return v


def validate(instance: Any, schema: dict[str, Any]) -> None:
    """Raise ValidationError naming the first bad field and what is wrong with it."""
    errors = sorted(_validator(schema).iter_errors(instance), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.absolute_path)
        msg = err.message
        if len(msg) > 300:
            msg = msg[:300] + "..."
        raise ValidationError(f"Invalid input for field '{where}': {msg}" if where
                              else f"Invalid input: {msg}")


class ApiRequest:
    def __init__(self, http: Request, runtime: Runtime, ctx: RequestContext,
                 service: ServiceApi, route: Route | None, params: dict[str, str],
                 path: str) -> None:
        self.http = http
        self.runtime = runtime
        self.ctx = ctx
        self.service = service
        self.route = route
        self.params = params
        self.path = path  # path below the service prefix
        self.state: dict[str, Any] = {}
        self._body: Any = None
        self._read = False
        self._base_url: str | None = None

    @property
    def method(self) -> str:
        return self.http.method

    @property
    def query(self) -> QueryParams:
        return self.http.query_params

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.http.headers.get(name, default)

    def base_url(self) -> str:
        """Where clients reach this service: the configured public URL, else the Host
        (worked out once per request: a page of links asks for it per item)."""
        if self._base_url is None:
            configured = self.runtime.settings.server.public_url
            if configured:
                self._base_url = configured.rstrip("/") + self.service.prefix
            else:
                host = self.http.headers.get("host") or "localhost"
                scheme = self.http.headers.get("x-forwarded-proto") or self.http.url.scheme
                self._base_url = f"{scheme}://{host}{self.service.prefix}"
        return self._base_url

    def url(self, path: str) -> str:
        return self.base_url() + path

    async def json(self, schema: dict[str, Any] | None = None, *, required: bool = True) -> Any:
        if not self._read:
            raw = b""
            async for chunk in self.http.stream():
                raw += chunk
                if len(raw) > MAX_BODY:
                    raise BadRequest(f"Request body is larger than {MAX_BODY} bytes.")
            self._read = True
            if raw.strip():
                try:
                    self._body = json.loads(raw)
                except (ValueError, UnicodeDecodeError) as exc:
                    raise BadRequest(f"Malformed request body: not valid JSON ({exc}).") from exc
                if b"\\u0000" in raw or b"\x00" in raw:
                    raise BadRequest("Malformed request body: strings must not contain NUL "
                                     "characters.")
            elif required:
                raise BadRequest("The request body is empty; a JSON body is required.")
        if schema is not None:
            validate(self._body, schema)
        return self._body

    def flag(self, name: str) -> bool | None:
        """A boolean query parameter as Keystone reads them (absent: None)."""
        if name not in self.query:
            return None
        value = self.query[name].lower()
        if value in ("", "1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise BadRequest(f"Query parameter {name} must be true or false, not {value!r}.")
