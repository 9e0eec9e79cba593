"""What every key manager handler uses: the core, policy targets, bodies."""

from __future__ import annotations

from typing import Any

from onestack.api.common.request import ApiRequest
from onestack.core.key_manager import errors
from onestack.core.key_manager.service import KeyManager


def core(req: ApiRequest) -> KeyManager:
    km: KeyManager = req.runtime.key_manager
    return km


async def own_target(req: ApiRequest) -> dict[str, Any]:
    return {"project_id": req.ctx.project_id or ""}


def shared_target(req: ApiRequest, kind: str, project_id: str, creator_id: str,
                  project_access: bool, users: list[str]) -> dict[str, Any]:
    t = f"target.{kind}"
    return {"project_id": project_id, f"{t}.project_id": project_id,
            f"{t}.creator_id": creator_id, f"{t}.read_project_access": project_access,
            f"{t}.read": "read" if req.ctx.user_id in users else ""}


async def secret_target(req: ApiRequest) -> dict[str, Any]:
    view = await core(req).secret(req.params["secret_id"])
    req.state["secret"] = view
    return shared_target(req, "secret", view.row.project_id, view.row.creator_id,
                         view.acl.project_access, view.acl.users)


async def container_target(req: ApiRequest) -> dict[str, Any]:
    view = await core(req).container(req.params["container_id"])
    req.state["container"] = view
    return shared_target(req, "container", view.row.project_id, view.row.creator_id,
                         view.acl.project_access, view.acl.users)


async def order_target(req: ApiRequest) -> dict[str, Any]:
    order = await core(req).order(req.params["order_id"])
    if order.project_id != (req.ctx.project_id or ""):  # Barbican finds orders by project
        raise errors.not_found("Order")
    req.state["order"] = order
    return {"project_id": order.project_id, "target.order.project_id": order.project_id}


async def project_target(req: ApiRequest) -> dict[str, Any]:
    return {"project_id": req.params["project_id"]}


async def body(req: ApiRequest) -> Any:
    ctype = (req.header("content-type") or "application/json").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise errors.UnsupportedMediaType(f"Unexpected content type. Expected content types "
                                          f"are: ['application/json'], not '{ctype}'.")
    if not (await req.http.body()).strip():
        raise errors.BadRequest("No data supplied to process.")
    return await req.json()


async def raw_body(req: ApiRequest, limit: int) -> bytes:
    """A non-JSON body (a payload upload), refused past ``limit`` bytes without reading on."""
    raw = b""
    async for chunk in req.http.stream():
        raw += chunk
        if len(raw) > limit:
            raise errors.TooLarge(f"Provided information too large to process: the body is "
                                  f"larger than {limit} bytes.")
    return raw
