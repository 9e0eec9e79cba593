"""Subnet pools: prefixes from which subnets are carved by prefix length."""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.context import RequestContext
from onestack.core.network import errors, ipam
from onestack.core.network.base import (
    ResourceStore,
    apply,
    bump,
    check_quota,
    check_revision,
    drop_tags,
    fetch,
    project_of,
    set_tags,
    touch_new,
    visible_pools,
)
from onestack.core.network.listing import (
    Attr,
    ListQuery,
    Page,
    run,
    standard_attrs,
    to_bool,
    to_int,
)
from onestack.db.models.network import Subnet, SubnetPool
from onestack.errors import Conflict

ATTRS: dict[str, Attr] = {
    **standard_attrs(SubnetPool),
    "ip_version": Attr(SubnetPool.ip_version, to_int),
    "default_prefixlen": Attr(SubnetPool.default_prefixlen, to_int),
    "min_prefixlen": Attr(SubnetPool.min_prefixlen, to_int),
    "max_prefixlen": Attr(SubnetPool.max_prefixlen, to_int),
    "shared": Attr(SubnetPool.shared, to_bool),
    "is_default": Attr(SubnetPool.is_default, to_bool),
}


def _prefixes(values: list[Any]) -> tuple[int, list[str]]:
    if not values:
        raise errors.InvalidInput("prefixes must be a non-empty list of CIDRs")
    nets = [ipam.parse_cidr(v) for v in values]
    versions = {n.version for n in nets}
    if len(versions) != 1:
        raise errors.InvalidInput("Cannot mix IPv4 and IPv6 prefixes in a subnet pool.")
    collapsed = ipaddress.collapse_addresses(nets)  # type: ignore[type-var]
    return versions.pop(), [str(n) for n in collapsed]


def _lengths(version: int, data: dict[str, Any], pool: SubnetPool | None = None
             ) -> tuple[int, int, int]:
    top = 32 if version == 4 else 128
    low = data.get("min_prefixlen", pool.min_prefixlen if pool else (8 if version == 4 else 64))
    high = data.get("max_prefixlen", pool.max_prefixlen if pool else top)
    default = data.get("default_prefixlen", pool.default_prefixlen if pool else low)
    if not (0 <= low <= default <= high <= top):
        raise errors.InvalidInput(
            f"Illegal prefix bounds: min_prefixlen={low}, default_prefixlen={default}, "
            f"max_prefixlen={high} (each between 0 and {top}, min <= default <= max)")
    return low, default, high


async def allocate_cidr(s: AsyncSession, pool: SubnetPool, cidr: str | None,
                        prefixlen: int | None) -> str:
    """A free CIDR from the pool: the one asked for (checked), or the first of `prefixlen`."""
    used = [ipaddress.ip_network(c) for c in (await s.execute(
        select(Subnet.cidr).where(Subnet.subnetpool_id == pool.id))).scalars()]
    prefixes = [ipaddress.ip_network(p) for p in pool.prefixes]
    if cidr is not None:
        net = ipam.normalize_cidr(cidr)
        if not any(net.version == p.version and net.subnet_of(p)  # type: ignore[arg-type]
                   for p in prefixes):
            raise errors.InvalidInput(f"Cidr {net} is not within the subnet pool's prefixes")
        if not pool.min_prefixlen <= net.prefixlen <= pool.max_prefixlen:
            raise errors.InvalidInput(f"Prefix length {net.prefixlen} is outside the pool's "
                                      "bounds")
        if any(net.overlaps(u) for u in used):
            raise errors.InvalidInput(f"Cidr {net} overlaps a subnet of the pool")
        return str(net)
    length = prefixlen if prefixlen is not None else pool.default_prefixlen
    if not pool.min_prefixlen <= length <= pool.max_prefixlen:
        raise errors.InvalidInput(
            f"Requested prefixlen {length} is outside the subnet pool's range "
            f"{pool.min_prefixlen}-{pool.max_prefixlen}")
    for prefix in prefixes:
        if length < prefix.prefixlen:
            continue
        size = 1 << (prefix.max_prefixlen - length)
        value = int(prefix.network_address)
        end = int(prefix.broadcast_address)
        while value + size - 1 <= end:
            candidate = ipaddress.ip_network((value, length))
            clash = [u for u in used if candidate.overlaps(u)]
            if not clash:
                return str(candidate)
            top = max(int(u.broadcast_address) for u in clash)
            value = ((top + 1 + size - 1) // size) * size
    raise Conflict(f"Insufficient prefix space to allocate subnet size /{length}")


class SubnetPools(ResourceStore[SubnetPool]):
    model = SubnetPool

    async def search(self, ctx: RequestContext, q: ListQuery) -> Page:
        async with self.read() as s:
            return await run(s, SubnetPool, visible_pools(ctx), q, ATTRS,
                             missing=errors.SubnetPoolNotFound)

    async def get(self, ctx: RequestContext, pool_id: str) -> SubnetPool:
        async with self.read() as s:
            return await fetch(s, SubnetPool, pool_id, visible_pools(ctx),
                               errors.SubnetPoolNotFound)

    async def create(self, ctx: RequestContext, items: list[dict[str, Any]]
                     ) -> list[SubnetPool]:
        async def work(s: AsyncSession) -> list[str]:
            ids = []
            for data in items:
                if data.get("address_scope_id"):
                    raise errors.InvalidInput("address scopes are not supported")
                project = data.get("project_id") or project_of(ctx)
                await check_quota(s, project, "subnetpool")
                version, prefixes = _prefixes(data.get("prefixes") or [])
                low, default, high = _lengths(version, data)
                pool = SubnetPool(project_id=project, name=data.get("name", ""),
                                  description=data.get("description", ""), ip_version=version,
                                  prefixes=prefixes, min_prefixlen=low, max_prefixlen=high,
                                  default_prefixlen=default, shared=data.get("shared", False),
                                  is_default=data.get("is_default", False),
                                  default_quota=data.get("default_quota"))
                touch_new(pool)
                s.add(pool)
                await s.flush()
                if data.get("tags"):
                    await set_tags(s, pool.id, data["tags"])
                ids.append(pool.id)
            return ids

        return await self.get_many(await self.txn(work))

    async def update(self, ctx: RequestContext, pool_id: str, data: dict[str, Any],
                     if_match: int | None = None) -> SubnetPool:
        async def work(s: AsyncSession) -> None:
            pool = await fetch(s, SubnetPool, pool_id, visible_pools(ctx),
                               errors.SubnetPoolNotFound, lock=True)
            check_revision(pool, if_match)
            changed = apply(pool, data, ("name", "description", "is_default", "default_quota"))
            if data.get("prefixes") is not None:
                version, prefixes = _prefixes(list(pool.prefixes) + list(data["prefixes"]))
                if version != pool.ip_version:
                    raise errors.InvalidInput("prefixes must keep the pool's IP version")
                if prefixes != pool.prefixes:
                    pool.prefixes, changed = prefixes, True
            low, default, high = _lengths(pool.ip_version, data, pool)
            if (low, default, high) != (pool.min_prefixlen, pool.default_prefixlen,
                                        pool.max_prefixlen):
                pool.min_prefixlen, pool.default_prefixlen, pool.max_prefixlen = (
                    low, default, high)
                changed = True
            if changed:
                bump(pool)

        await self.txn(work)
        return (await self.get_many([pool_id]))[0]

    async def delete(self, ctx: RequestContext, pool_id: str, if_match: int | None = None
                     ) -> None:
        async def work(s: AsyncSession) -> None:
            pool = await fetch(s, SubnetPool, pool_id, visible_pools(ctx),
                               errors.SubnetPoolNotFound, lock=True)
            check_revision(pool, if_match)
            count = (await s.execute(select(func.count()).select_from(Subnet).where(
                Subnet.subnetpool_id == pool_id))).scalar_one()
            if count:
                raise errors.SubnetPoolInUse(pool_id)
            await drop_tags(s, [pool_id])
            await s.execute(delete(SubnetPool).where(SubnetPool.id == pool_id))

        await self.txn(work)
