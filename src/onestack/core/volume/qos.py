"""Cinder's QoS specs (``/qos-specs``, admin only): named key/value limits for a consumer,
associated with volume types (a type has at most one). They are kept and shown as Cinder
shows them; no backend or hypervisor enforces them yet."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.volume.base import Caller, Store
from onestack.core.volume.types import VolumeTypes
from onestack.db.models.base import utcnow
from onestack.db.models.volume import VolumeType
from onestack.db.models.volume_qos import QosAssociation, QosSpec
from onestack.errors import BadRequest, Conflict, NotFound

CONSUMERS = ("front-end", "back-end", "both")
DEFAULT_CONSUMER = "back-end"


@dataclass
class QosRecord:
    id: str
    name: str
    consumer: str
    specs: dict[str, str] = field(default_factory=dict)


def qos_not_found(qos_id: str) -> NotFound:
    return NotFound(f"QoS Specs {qos_id} could not be found.")


def _record(row: QosSpec) -> QosRecord:
    return QosRecord(row.id, row.name, row.consumer, dict(row.specs or {}))


def _consumer(value: Any) -> str:
    if value not in CONSUMERS:
        raise BadRequest(f"Invalid qos specs: consumer {value!r} is not valid; valid "
                         f"consumers of QoS specs are: {', '.join(CONSUMERS)}.")
    return str(value)


def _specs(body: dict[str, Any]) -> dict[str, str]:
    """Spec keys and values: strings (numbers are taken as their text), 1-255 characters."""
    out: dict[str, str] = {}
    for key, value in body.items():
        if not isinstance(key, str) or not key.strip() or len(key) > 255:
            raise BadRequest(f"Invalid input for field/attribute qos_specs. Key {key!r} must "
                             "be a string of 1 to 255 characters.")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise BadRequest(f"Invalid input for field/attribute {key}. Value: {value!r} is "
                             "not a string.")
        text = str(value)
        if len(text) > 255:
            raise BadRequest(f"Invalid input for field/attribute {key}. Value is longer than "
                             "255 characters.")
        out[key] = text
    return out


class QosSpecs:
    def __init__(self, store: Store, types: VolumeTypes) -> None:
        self.store = store
        self.types = types

    async def _find(self, s: AsyncSession, qos_id: str) -> QosSpec:
        row = await s.get(QosSpec, qos_id)
        if row is None:
            raise qos_not_found(qos_id)
        return row

    async def list_all(self) -> list[QosRecord]:
        async with self.store.db.read() as s:
            rows = (await s.execute(select(QosSpec).order_by(
                QosSpec.created_at, QosSpec.id))).scalars()
            return [_record(r) for r in rows]

    async def get(self, qos_id: str) -> QosRecord:
        async with self.store.db.read() as s:
            return _record(await self._find(s, qos_id))

    async def create(self, body: dict[str, Any]) -> QosRecord:
        body = dict(body)
        name = body.pop("name", None)
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise BadRequest("Invalid input for field/attribute name. Please specify a name "
                             "of 1 to 255 characters for QoS specs.")
        name = name.strip()
        consumer = _consumer(body.pop("consumer", DEFAULT_CONSUMER))
        specs = _specs(body)
        row = QosSpec(id=str(uuid.uuid4()), name=name, consumer=consumer, specs=specs,
                      created_at=utcnow())
        async with self.store.write(f"QoS Specs {name} already exists.") as s:
            if (await s.execute(select(QosSpec.id).where(QosSpec.name == name))).first():
                raise Conflict(f"QoS Specs {name} already exists.")
            s.add(row)
        return _record(row)

    async def set_keys(self, qos_id: str, body: dict[str, Any]) -> dict[str, str]:
        body = dict(body)
        consumer = _consumer(body.pop("consumer")) if "consumer" in body else None
        specs = _specs(body)
        async with self.store.write() as s:
            row = await self._find(s, qos_id)
            if consumer is not None:
                row.consumer = consumer
            row.specs = {**(row.specs or {}), **specs}
            row.updated_at = utcnow()
        return {**specs, **({"consumer": consumer} if consumer else {})}

    async def unset_keys(self, qos_id: str, keys: Any) -> None:
        if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
            raise BadRequest("Invalid input for field/attribute keys. It must be a list of "
                             "spec keys.")
        async with self.store.write() as s:
            row = await self._find(s, qos_id)
            current = dict(row.specs or {})
            for key in keys:
                if key not in current:
                    raise BadRequest(f"QoS Specs {qos_id} has no specs with key {key}.")
                current.pop(key)
            row.specs = current
            row.updated_at = utcnow()

    async def delete(self, qos_id: str, force: bool) -> None:
        async with self.store.write() as s:
            row = await self._find(s, qos_id)
            used = await s.scalar(select(func.count()).select_from(QosAssociation).where(
                QosAssociation.qos_id == qos_id))
            if used and not force:
                raise BadRequest(f"QoS Specs {qos_id} is still associated with entities.")
            await s.execute(delete(QosAssociation).where(QosAssociation.qos_id == qos_id))
            await s.delete(row)

    # --- associations with volume types ------------------------------------------------
    async def associations(self, qos_id: str) -> list[tuple[str, str]]:
        """(type id, type name) of each volume type these specs apply to."""
        async with self.store.db.read() as s:
            await self._find(s, qos_id)
            rows = (await s.execute(select(VolumeType.id, VolumeType.name).join(
                QosAssociation, QosAssociation.type_id == VolumeType.id).where(
                QosAssociation.qos_id == qos_id).order_by(VolumeType.name))).all()
        return [(r[0], r[1]) for r in rows]

    async def _type_id(self, s: AsyncSession, caller: Caller, type_id: Any) -> str:
        if not isinstance(type_id, str) or not type_id:
            raise BadRequest("Invalid input for field/attribute vol_type_id. Volume Type id "
                             "must not be None.")
        return (await self.types.find(s, caller, type_id)).id

    async def associate(self, caller: Caller, qos_id: str, type_id: Any) -> None:
        async with self.store.write() as s:
            await self._find(s, qos_id)
            tid = await self._type_id(s, caller, type_id)
            current = await s.get(QosAssociation, tid)
            if current is not None and current.qos_id != qos_id:
                raise BadRequest(f"Invalid volume type: Type {tid} is already associated "
                                 f"with another qos specs: {current.qos_id}")
            if current is None:
                s.add(QosAssociation(type_id=tid, qos_id=qos_id))

    async def disassociate(self, caller: Caller, qos_id: str, type_id: Any) -> None:
        async with self.store.write() as s:
            await self._find(s, qos_id)
            tid = await self._type_id(s, caller, type_id)
            await s.execute(delete(QosAssociation).where(
                QosAssociation.qos_id == qos_id, QosAssociation.type_id == tid))

    async def disassociate_all(self, qos_id: str) -> None:
        async with self.store.write() as s:
            await self._find(s, qos_id)
            await s.execute(delete(QosAssociation).where(QosAssociation.qos_id == qos_id))
