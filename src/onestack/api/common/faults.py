"""Fault bodies in each service's own format, rendered from the one error tree."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from onestack.errors import OnestackError, Unauthorized

if TYPE_CHECKING:
    from onestack.api.common.request import ApiRequest


def keystone_fault(exc: OnestackError, req: ApiRequest | None) -> tuple[dict[str, Any],
                                                                          dict[str, str]]:
    headers = dict(exc.headers)
    if isinstance(exc, Unauthorized) and req is not None:
        headers["WWW-Authenticate"] = f'Keystone uri="{req.base_url()}"'
    body = {"error": {"code": exc.status, "title": exc.title, "message": exc.message}}
    return body, headers


def nova_fault(exc: OnestackError, _req: ApiRequest | None) -> tuple[dict[str, Any],
                                                                      dict[str, str]]:
    return {exc.nova_fault: {"code": exc.status, "message": exc.message}}, dict(exc.headers)


def neutron_fault(exc: OnestackError, _req: ApiRequest | None) -> tuple[dict[str, Any],
                                                                         dict[str, str]]:
    body = {"NeutronError": {"type": exc.neutron_type, "message": exc.message, "detail": ""}}
    return body, dict(exc.headers)
