"""The metadata API: ``/metadata/openstack/...`` and the EC2 ``/metadata/<version>/...``.

Guests reach it at ``http://169.254.169.254/`` through the network data plane's proxy, which
knows the instance from the guest's port and forwards with Nova's headers:
``X-Instance-ID`` (the server's uuid) and ``X-Instance-ID-Signature`` (hex HMAC-SHA256 of
the uuid with the shared secret, ``[compute] metadata_secret`` or the generated
``<data_dir>/metadata_secret``), and ``X-Tenant-ID`` (the project of the port the request
came from: an instance of another project is not found). No token: the signature is the
credential, as in Nova. A request without them, or with a wrong signature, is refused with
400/403.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.common.routing import Route, ServiceApi
from onestack.core.identity.bootstrap import ServiceEntry
from onestack.errors import BadRequest, Forbidden, OnestackError

RULES: list[Any] = []


def shared_secret(settings: Any) -> bytes:
    """The configured secret, else one generated once into the data dir."""
    configured = str(getattr(settings.compute, "metadata_secret", "") or "")
    if configured:
        return configured.encode()
    path = Path(settings.data_dir) / "metadata_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("x") as fh:  # first writer wins; a racing second one reads it
                fh.write(secrets.token_hex(32))
            path.chmod(0o600)
        except FileExistsError:
            pass
    return path.read_bytes().strip()


def sign(secret: bytes, instance_id: str) -> str:
    return hmac.new(secret, instance_id.encode(), hashlib.sha256).hexdigest()


def _plain(status: int, text: str) -> Response:
    return Response(text + "\n", status_code=status, media_type="text/plain; charset=UTF-8")


def render(exc: OnestackError, _req: ApiRequest | None) -> tuple[dict[str, Any],
                                                                  dict[str, str]]:
    return {"error": {"code": exc.status, "message": exc.message}}, dict(exc.headers)


async def serve(req: ApiRequest) -> Response:
    instance_id = req.http.headers.get("x-instance-id", "")
    signature = req.http.headers.get("x-instance-id-signature", "")
    if not instance_id:
        raise BadRequest("X-Instance-ID header is missing from request.")
    if not signature:
        raise BadRequest("X-Instance-ID-Signature header is missing from request.")
    tenant_id = req.http.headers.get("x-tenant-id", "")
    if not tenant_id:
        raise BadRequest("X-Tenant-ID header is missing from request.")
    expected = sign(shared_secret(req.runtime.settings), instance_id)
    if not hmac.compare_digest(expected, signature):
        raise Forbidden("Invalid proxy request signature.")
    path = req.params.get("path", "")
    answer = await req.runtime.compute_metadata.answer(instance_id, path, tenant_id)
    if answer.status == 404:
        return _plain(404, "404 Not Found: The resource could not be found.")
    return Response(answer.body, status_code=answer.status, media_type=answer.content_type)


ROUTES = [
    Route("GET", "/", serve, auth=False),
    Route("GET", "/{path:path}", serve, auth=False),
]

SERVICE = ServiceApi(name="metadata", prefix="/metadata", routes=ROUTES, render_fault=render)


def catalog_entries(base_url: str) -> list[ServiceEntry]:
    del base_url
    return []  # not a catalog service: guests reach it through 169.254.169.254


__all__ = ["RULES", "SERVICE", "catalog_entries", "shared_secret", "sign"]
