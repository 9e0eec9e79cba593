"""QoS specs (Cinder's /qos-specs, admin only): thin handlers over core.volume.qos."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.volume.common import accepted, body_of, bool_param, caller, one, respond
from onestack.core.volume.qos import QosRecord, QosSpecs
from onestack.errors import BadRequest


def _core(req: ApiRequest) -> QosSpecs:
    qos: QosSpecs = req.runtime.volume.qos
    return qos


def _view(rec: QosRecord) -> dict[str, Any]:
    return {"id": rec.id, "name": rec.name, "consumer": rec.consumer, "specs": rec.specs}


def _links(req: ApiRequest, qos_id: str) -> list[dict[str, str]]:
    base = req.base_url()
    project = req.params.get("project") or req.ctx.project_id or ""
    return [{"href": f"{base}/v3/{project}/qos-specs/{qos_id}", "rel": "self"},
            {"href": f"{base}/{project}/qos-specs/{qos_id}", "rel": "bookmark"}]


def _one_rendered(req: ApiRequest, rec: QosRecord) -> Response:
    return respond({"qos_specs": _view(rec), "links": _links(req, rec.id)})


async def list_qos(req: ApiRequest) -> Response:
    return respond({"qos_specs": [_view(r) for r in await _core(req).list_all()]})


async def create(req: ApiRequest) -> Response:
    body = await body_of(req, "qos_specs")
    return _one_rendered(req, await _core(req).create(body))


async def show(req: ApiRequest) -> Response:
    return _one_rendered(req, await _core(req).get(req.params["qos_id"]))


async def set_keys(req: ApiRequest) -> Response:
    body = await body_of(req, "qos_specs")
    return respond({"qos_specs": await _core(req).set_keys(req.params["qos_id"], body)})


async def unset_keys(req: ApiRequest) -> Response:
    body = await req.json()
    if not isinstance(body, dict) or "keys" not in body:
        raise BadRequest("Invalid input for field/attribute keys. 'keys' is a required "
                         "property")
    await _core(req).unset_keys(req.params["qos_id"], body["keys"])
    return accepted()


async def delete(req: ApiRequest) -> Response:
    await _core(req).delete(req.params["qos_id"], bool(bool_param(req, "force")))
    return accepted()


async def associations(req: ApiRequest) -> Response:
    rows = await _core(req).associations(req.params["qos_id"])
    return respond({"qos_associations": [
        {"association_type": "volume_type", "id": tid, "name": name} for tid, name in rows]})


async def associate(req: ApiRequest) -> Response:
    await _core(req).associate(caller(req), req.params["qos_id"], one(req, "vol_type_id"))
    return accepted()


async def disassociate(req: ApiRequest) -> Response:
    await _core(req).disassociate(caller(req), req.params["qos_id"], one(req, "vol_type_id"))
    return accepted()


async def disassociate_all(req: ApiRequest) -> Response:
    await _core(req).disassociate_all(req.params["qos_id"])
    return accepted()


QOS = "/qos-specs/{qos_id}"
RULE = "volume_extension:qos_specs_manage:"
# Cinder's defaults (cinder/policies/qos_specs.py): all admin
POLICY: list[tuple[str, str]] = [(RULE + action, "rule:admin_api") for action in (
    "get_all", "get", "create", "update", "delete")]
TABLE: list[tuple[str, str, Any, str]] = [
    ("GET", "/qos-specs", list_qos, RULE + "get_all"),
    ("POST", "/qos-specs", create, RULE + "create"),
    ("GET", QOS, show, RULE + "get"),
    ("PUT", QOS, set_keys, RULE + "update"),
    ("DELETE", QOS, delete, RULE + "delete"),
    ("PUT", QOS + "/delete_keys", unset_keys, RULE + "update"),
    ("GET", QOS + "/associations", associations, RULE + "get_all"),
    ("GET", QOS + "/associate", associate, RULE + "update"),
    ("GET", QOS + "/disassociate", disassociate, RULE + "update"),
    ("GET", QOS + "/disassociate_all", disassociate_all, RULE + "update"),
]
