"""Compute quotas: Nova's defaults, per-project limits, usage counted from the records, and
the checks server create, key pairs, metadata and server groups run."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.compute.base import Store
from onestack.db.locks import quota_lock
from onestack.db.models.compute import (
    ComputeQuota,
    Instance,
    KeyPair,
    ServerGroup,
)
from onestack.errors import BadRequest, Forbidden

DEFAULTS: dict[str, int] = {
    "instances": 10, "cores": 20, "ram": 51200, "metadata_items": 128, "key_pairs": 100,
    "server_groups": 10, "server_group_members": 10, "injected_files": 5,
    "injected_file_content_bytes": 10240, "injected_file_path_bytes": 255,
    "floating_ips": 10, "fixed_ips": -1, "security_groups": 10, "security_group_rules": 20,
}
# Quota classes (os-quota-class-sets) keep their rows beside the projects' under this prefix
# (no project id has a colon); the ``default`` class's limits are every project's defaults.
CLASS_KEY, DEFAULT_CLASS = "quota-class:", "default"
# Resources shown before 2.36 only (proxied to networking) and before 2.57 (file injection).
NETWORK_RESOURCES = ("floating_ips", "fixed_ips", "security_groups", "security_group_rules")
FILE_RESOURCES = ("injected_files", "injected_file_content_bytes", "injected_file_path_bytes")


@dataclass
class Detail:
    limit: int
    in_use: int = 0
    reserved: int = 0


class Quotas(Store):
    async def limits(self, project_id: str) -> dict[str, int]:
        async with self.db.read() as s:
            return await self._limits(s, project_id)

    @staticmethod
    async def _limits(s: AsyncSession, project_id: str) -> dict[str, int]:
        """Nova's defaults, then the ``default`` quota class's, then the project's own."""
        out = dict(DEFAULTS)
        q = select(ComputeQuota).where(ComputeQuota.project_id.in_(
            (CLASS_KEY + DEFAULT_CLASS, project_id)))
        rows = sorted((await s.execute(q)).scalars(),
                      key=lambda r: r.project_id == project_id)
        for row in rows:
            out[row.resource] = row.hard_limit
        return out

    async def class_limits(self, name: str) -> dict[str, int]:
        """A quota class's limits (``default``'s are every project's defaults)."""
        async with self.db.read() as s:
            q = select(ComputeQuota).where(ComputeQuota.project_id == CLASS_KEY + name)
            return {**DEFAULTS, **{r.resource: r.hard_limit
                                   for r in (await s.execute(q)).scalars()}}

    async def update_class(self, name: str, values: dict[str, int]) -> dict[str, int]:
        await self._store(CLASS_KEY + name, values)
        return await self.class_limits(name)

    async def _store(self, key: str, values: dict[str, int]) -> None:
        async with self.write() as s:
            for resource, limit in values.items():
                row = await s.get(ComputeQuota, (key, resource))
                if row is None:
                    s.add(ComputeQuota(project_id=key, resource=resource, hard_limit=limit))
                else:
                    row.hard_limit = limit

    async def usage(self, project_id: str, user_id: str | None = None) -> dict[str, int]:
        async with self.db.read() as s:
            return await self._usage(s, project_id, user_id)

    @staticmethod
    async def _usage(s: AsyncSession, project_id: str, user_id: str | None = None
                     ) -> dict[str, int]:
        q = select(func.count(), func.coalesce(func.sum(Instance.vcpus), 0),
                   func.coalesce(func.sum(Instance.memory_mb), 0)).where(
            Instance.project_id == project_id, Instance.deleted.is_(False))
        n, cores, ram = (await s.execute(q)).one()
        groups = await s.scalar(select(func.count()).select_from(ServerGroup).where(
            ServerGroup.project_id == project_id))
        out = {r: 0 for r in DEFAULTS}
        out.update(instances=int(n), cores=int(cores), ram=int(ram),
                   server_groups=int(groups or 0))
        if user_id is not None:
            keys = await s.scalar(select(func.count()).select_from(KeyPair).where(
                KeyPair.user_id == user_id))
            out["key_pairs"] = int(keys or 0)
        return out

    async def details(self, project_id: str, user_id: str | None) -> dict[str, Detail]:
        async with self.db.read() as s:
            limits = await self._limits(s, project_id)
            used = await self._usage(s, project_id, user_id)
        return {r: Detail(limits[r], used.get(r, 0)) for r in DEFAULTS}

    async def update(self, project_id: str, values: dict[str, int], force: bool = False
                     ) -> dict[str, int]:
        if not force:
            async with self.db.read() as s:
                used = await self._usage(s, project_id)
            for resource, limit in values.items():
                if 0 <= limit < used.get(resource, 0):
                    raise BadRequest(
                        f"Quota limit {limit} for {resource} must be greater than or "
                        f"equal to already used and reserved {used[resource]}.")
        await self._store(project_id, values)
        return await self.limits(project_id)

    async def reset(self, project_id: str) -> None:
        async with self.write() as s:
            await s.execute(delete(ComputeQuota).where(ComputeQuota.project_id == project_id))

    @staticmethod
    async def instances_allowed(s: AsyncSession, project_id: str, vcpus: int, ram: int,
                                min_count: int, max_count: int) -> int:
        """How many of max_count instances fit the project's quota (403 if not min_count).

        Call inside the write that inserts them: the project's compute quota lock is held
        from here to its commit, so concurrent creates count one after the other."""
        await quota_lock(s, "compute", project_id)
        limits = await Quotas._limits(s, project_id)
        per = {"instances": 1, "cores": vcpus, "ram": ram}
        if all(limits[resource] < 0 for resource in per):
            return max_count  # unlimited: no need to add up what the project uses
        used = await Quotas._usage(s, project_id)
        allowed = max_count
        for resource, each in per.items():
            limit = limits[resource]
            if limit < 0 or each == 0:
                continue
            fit = max(limit - used[resource], 0) // each
            if fit < min_count:
                raise Forbidden(
                    f"Quota exceeded for {resource}: Requested {each * min_count}, but "
                    f"already used {used[resource]} of {limit} {resource}")
            allowed = min(allowed, fit)
        return allowed

    async def check_growth(self, project_id: str, deltas: dict[str, int]) -> None:
        """403 when growing the project's use by ``deltas`` (a resize: cores, ram) would
        pass its limits, as Nova's quota check before a resize."""
        async with self.db.read() as s:
            limits = await self._limits(s, project_id)
            used = await self._usage(s, project_id)
        for resource, delta in deltas.items():
            limit = limits[resource]
            if delta > 0 and 0 <= limit < used[resource] + delta:
                raise Forbidden(f"Quota exceeded for {resource}: Requested {delta}, but "
                                f"already used {used[resource]} of {limit} {resource}")

    @staticmethod
    def check_metadata(limits: dict[str, int], count: int) -> None:
        limit = limits["metadata_items"]
        if 0 <= limit < count:
            raise Forbidden(f"Quota exceeded for metadata_items: Requested {count}, but the "
                            f"limit is {limit} metadata_items")
