"""Cinder quotas: volumes, gigabytes (volumes and snapshots), snapshots, and the same per
volume type (``volumes_<type>``...), plus per_volume_gigabytes.

Usage is counted from the volumes and snapshots themselves (no usage table to drift), inside
the transaction that creates the new one. An exceeded limit is Cinder's 413 overLimit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.volume.base import Store
from onestack.db.locks import quota_lock
from onestack.db.models.volume import Snapshot, Volume, VolumeQuota, VolumeType
from onestack.db.models.volume_backup import Backup
from onestack.errors import BadRequest, PayloadTooLarge

DEFAULTS: dict[str, int] = {"volumes": 10, "snapshots": 10, "gigabytes": 1000,
                            "backups": 10, "backup_gigabytes": 1000, "groups": 10,
                            "per_volume_gigabytes": -1}
PER_TYPE = ("volumes", "gigabytes", "snapshots")
DEFAULT_CLASS = "quota-class:default"  # the default class's rows (never a project id)


@dataclass(frozen=True)
class Usage:
    volumes: int = 0
    gigabytes: int = 0
    snapshots: int = 0


def _type_key(resource: str, type_name: str) -> str:
    return f"{resource}_{type_name}"


async def usage(s: AsyncSession, project_id: str, type_id: str | None = None) -> Usage:
    vq = select(func.count(), func.coalesce(func.sum(Volume.size), 0)).where(
        Volume.project_id == project_id)
    sq = select(func.count(), func.coalesce(func.sum(Snapshot.size), 0)).where(
        Snapshot.project_id == project_id)
    if type_id is not None:
        vq = vq.where(Volume.type_id == type_id)
        sq = sq.where(Snapshot.type_id == type_id)
    vcount, vgb = (await s.execute(vq)).one()
    scount, sgb = (await s.execute(sq)).one()
    return Usage(int(vcount), int(vgb) + int(sgb), int(scount))


class Quotas:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def _limits(self, s: AsyncSession, project_id: str) -> dict[str, int]:
        limits = dict(DEFAULTS)
        for name in (await s.execute(select(VolumeType.name))).scalars():
            for res in PER_TYPE:
                limits[_type_key(res, name)] = -1
        # the default quota class (os-quota-class-sets/default), then the project's own
        for owner in (DEFAULT_CLASS, project_id):
            for row in (await s.execute(select(VolumeQuota).where(
                    VolumeQuota.project_id == owner))).scalars():
                limits[row.resource] = int(row.hard_limit)
        return limits

    async def limits_of(self, owner: str) -> dict[str, int]:
        async with self.store.db.read() as s:
            return await self._limits(s, owner)

    async def show(self, project_id: str, with_usage: bool = False) -> dict[str, Any]:
        async with self.store.db.read() as s:
            limits = await self._limits(s, project_id)
            if not with_usage:
                return limits
            total = await usage(s, project_id)
            used: dict[str, int] = {"volumes": total.volumes, "gigabytes": total.gigabytes,
                                    "snapshots": total.snapshots}
            backups, backup_gb = (await s.execute(select(
                func.count(), func.coalesce(func.sum(Backup.size), 0)).where(
                Backup.project_id == project_id))).one()
            used.update(backups=int(backups), backup_gigabytes=int(backup_gb))
            for vt in (await s.execute(select(VolumeType))).scalars():
                per = await usage(s, project_id, vt.id)
                used.update({_type_key("volumes", vt.name): per.volumes,
                             _type_key("gigabytes", vt.name): per.gigabytes,
                             _type_key("snapshots", vt.name): per.snapshots})
        return {k: {"limit": v, "in_use": used.get(k, 0), "reserved": 0, "allocated": 0}
                for k, v in limits.items()}

    def defaults(self) -> dict[str, int]:
        return dict(DEFAULTS)

    async def update(self, project_id: str, values: dict[str, Any]) -> dict[str, int]:
        async with self.store.write() as s:
            known = await self._limits(s, project_id)
            for key, value in values.items():
                if key not in known:
                    raise BadRequest(f"Bad key(s) in quota set: {key}")
                if isinstance(value, bool) or not isinstance(value, int | str):
                    raise BadRequest(f"Quota limit for {key} must be an integer.")
                try:
                    limit = int(value)
                except ValueError as exc:
                    raise BadRequest(f"Quota limit for {key} must be an integer.") from exc
                if limit < -1 or limit > 2**31 - 1:
                    raise BadRequest(f"Quota limit {limit} for {key} must be -1 or more.")
                row = await s.get(VolumeQuota, (project_id, key))
                if row is None:
                    s.add(VolumeQuota(project_id=project_id, resource=key, hard_limit=limit))
                else:
                    row.hard_limit = limit
        return await self.show(project_id)

    async def reset(self, project_id: str) -> None:
        async with self.store.write() as s:
            await s.execute(delete(VolumeQuota).where(VolumeQuota.project_id == project_id))

    async def check(self, s: AsyncSession, project_id: str, vt: VolumeType | None, *,
                    volumes: int = 0, gigabytes: int = 0, snapshots: int = 0,
                    size: int | None = None) -> None:
        """Raise 413 when adding these would pass a limit (call inside the write).

        The project's volume quota lock is held from here to the write's commit, so
        concurrent creates, snapshots and extends count one after the other."""
        await quota_lock(s, "volume", project_id)
        limits = await self._limits(s, project_id)
        per_volume = limits.get("per_volume_gigabytes", -1)
        if size is not None and per_volume >= 0 and size > per_volume:
            raise PayloadTooLarge(f"VolumeSizeExceedsLimit: Requested volume size {size}G is "
                                  f"larger than maximum allowed limit {per_volume}G.")
        checks = [("", await usage(s, project_id))]
        if vt is not None:
            checks.append((vt.name, await usage(s, project_id, vt.id)))
        asked = {"volumes": volumes, "gigabytes": gigabytes, "snapshots": snapshots}
        for type_name, used in checks:
            for res, delta in asked.items():
                if delta <= 0:
                    continue
                key = _type_key(res, type_name) if type_name else res
                limit = limits.get(key, -1)
                have = getattr(used, res)
                if limit >= 0 and have + delta > limit:
                    raise PayloadTooLarge(_message(res, key, delta, limit, have))


def _message(res: str, key: str, delta: int, limit: int, used: int) -> str:
    if res == "gigabytes":
        return (f"VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds "
                f"allowed {key} quota. Requested {delta}G, quota is {limit}G and {used}G has "
                "been consumed.")
    what = "volume" if res == "volumes" else "snapshot"
    return (f"{what.capitalize()}LimitExceeded: Maximum number of {what}s allowed ({limit}) "
            f"exceeded for quota '{key}'.")
