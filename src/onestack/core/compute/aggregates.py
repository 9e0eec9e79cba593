"""Host aggregates (Nova's ``os-aggregates``): named groups of compute hosts with metadata.
The ``availability_zone`` key of an aggregate's metadata makes its hosts an availability
zone; a host is in one zone at most (Nova's ``is_safe_to_update_az``). Each change writes
the zone it gives its hosts onto their compute node row in the same transaction, so what
reads a host's zone (services, the scheduler, a server's ``OS-EXT-AZ``) reads one column.

The scheduler reads ``host_zones`` and ``host_metadata``: the requested zone, and a flavor's
``aggregate_instance_extra_specs:`` specs, are matched against them."""

from __future__ import annotations

import datetime as dt
import uuid as uuidlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.compute.base import DEFAULT_AZ, Store
from onestack.db.models.base import utcnow
from onestack.db.models.compute import Aggregate, AggregateHost, AggregateMetadata, ComputeNode
from onestack.errors import BadRequest, Conflict, Forbidden, NotFound
from onestack.scheduler.filters import (
    HostName,
    aggregate_specs,
    aggregate_specs_filter,
    host_filter,
    zone_filter,
)
from onestack.scheduler.hosts import HostFilter

AZ_KEY = "availability_zone"
INTERNAL_AZ = "internal"  # Nova's internal_service_availability_zone
_UNSET = object()


@dataclass
class AggregateView:
    id: int
    uuid: str
    name: str
    hosts: list[str]
    metadata: dict[str, str]
    created_at: dt.datetime
    updated_at: dt.datetime | None

    @property
    def availability_zone(self) -> str | None:
        return self.metadata.get(AZ_KEY)


@dataclass
class HostAggregates:
    """What the scheduler reads: each host's zone and its aggregates' metadata (key -> the
    values of every aggregate of the host)."""

    zones: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, dict[str, set[str]]] = field(default_factory=dict)

    def zone(self, host: str) -> str:
        return self.zones.get(host, DEFAULT_AZ)


def _check_zone(zone: str | None) -> None:
    if zone == INTERNAL_AZ:
        raise BadRequest(f"Invalid input for field/attribute availability_zone. Value: "
                         f"{zone}. The availability zone '{INTERNAL_AZ}' is reserved for "
                         "internal services.")


class Aggregates(Store):
    async def listing(self) -> list[AggregateView]:
        async with self.db.read() as s:
            rows = list((await s.execute(select(Aggregate).order_by(Aggregate.id))).scalars())
            return await self._views(s, rows)

    async def get(self, ident: int) -> AggregateView:
        async with self.db.read() as s:
            return (await self._views(s, [await self._row(s, ident)]))[0]

    async def create(self, name: str, zone: str | None) -> AggregateView:
        _check_zone(zone)
        async with self.write(f"Aggregate {name} already exists.") as s:
            await self._unique_name(s, name)
            now = utcnow()
            row = Aggregate(uuid=str(uuidlib.uuid4()), name=name, created_at=now)
            s.add(row)
            await s.flush()
            if zone is not None:
                s.add(AggregateMetadata(aggregate_id=row.id, key=AZ_KEY, value=zone))
            ident = row.id
        return await self.get(ident)

    async def update(self, ident: int, name: str | None = None,
                     zone: object = _UNSET) -> AggregateView:
        """``zone``: a new zone name, None to drop the zone, left out to keep it."""
        async with self.write(f"Aggregate {name} already exists.") as s:
            row = await self._row(s, ident)
            if name is not None and name != row.name:
                await self._unique_name(s, name)
                row.name = name
            if zone is not _UNSET:
                assert zone is None or isinstance(zone, str)
                await self._set(s, row, {AZ_KEY: zone})
            row.updated_at = utcnow()
        return await self.get(ident)

    async def set_metadata(self, ident: int, changes: dict[str, str | None]) -> AggregateView:
        """Keys set to None are removed; others set."""
        async with self.write() as s:
            row = await self._row(s, ident)
            await self._set(s, row, changes)
            row.updated_at = utcnow()
        return await self.get(ident)

    async def delete(self, ident: int) -> None:
        async with self.write() as s:
            row = await self._row(s, ident)
            if await self._hosts(s, [row.id]):
                raise BadRequest(f"Cannot remove aggregate {ident}. Reason: Host aggregate is "
                                 "not empty.")
            await s.delete(row)

    async def add_host(self, ident: int, host: str) -> AggregateView:
        async with self.write(f"Aggregate {ident} already has host {host}.") as s:
            row = await self._row(s, ident)
            if await s.scalar(select(ComputeNode.id).where(ComputeNode.host == host)) is None:
                raise NotFound(f"Compute host {host} could not be found.")
            if host in (await self._hosts(s, [row.id])).get(row.id, []):
                raise Conflict(f"Aggregate {ident} already has host {host}.")
            zone = (await self._metadata(s, [row.id])).get(row.id, {}).get(AZ_KEY)
            if zone is not None:
                others = await self._zones_of(s, host, exclude=row.id)
                if others - {zone}:
                    raise Conflict(f"Cannot add host to aggregate {ident}. Reason: One or "
                                   f"more hosts already in availability zone(s) "
                                   f"{sorted(others)}.")
            s.add(AggregateHost(aggregate_id=row.id, host=host))
            await s.flush()
            await self._sync_zones(s, [host])
        return await self.get(ident)

    async def remove_host(self, ident: int, host: str) -> AggregateView:
        async with self.write() as s:
            row = await self._row(s, ident)
            gone = await s.execute(delete(AggregateHost).where(
                AggregateHost.aggregate_id == row.id, AggregateHost.host == host))
            if not getattr(gone, "rowcount", 0):  # Nova's words for either cause
                raise NotFound(f"Cannot remove host {host} in aggregate {ident}")
            await self._sync_zones(s, [host])
        return await self.get(ident)

    async def host_aggregates(self) -> HostAggregates:
        async with self.db.read() as s:
            hosts = (await s.execute(select(AggregateHost.aggregate_id,
                                            AggregateHost.host))).all()
            meta = (await s.execute(select(AggregateMetadata.aggregate_id,
                                           AggregateMetadata.key,
                                           AggregateMetadata.value))).all()
        by_agg: dict[int, list[tuple[str, str]]] = {}
        for agg, key, value in meta:
            by_agg.setdefault(agg, []).append((key, value))
        out = HostAggregates()
        for agg, host in hosts:
            mine = out.metadata.setdefault(host, {})
            for key, value in by_agg.get(agg, []):
                mine.setdefault(key, set()).add(value)
                if key == AZ_KEY:
                    out.zones[host] = value
        return out

    # --- what a boot asks -------------------------------------------------------------
    async def check_zone(self, requested: str, is_admin: bool) -> None:
        """A boot's ``availability_zone``: ``zone``, ``zone:host`` or ``zone:host:node``
        (a host only for admins, as Nova's servers:create:forced_host); the zone must be
        the default one or one an aggregate makes."""
        zone, _, host = requested.partition(":")
        host = host.split(":")[0]
        if host and not is_admin:
            raise Forbidden("Policy doesn't allow os_compute_api:servers:create:forced_host "
                            "to be performed.")
        known = set((await self.host_aggregates()).zones.values()) | {DEFAULT_AZ}
        if zone and zone not in known:
            raise BadRequest(f"The requested availability zone is not available: "
                             f"{requested}")
        if host and not await self._host_known(host):
            raise BadRequest(f"Compute host {host} could not be found.")

    async def filters(self, requested_zone: str | None, extra_specs: dict[str, str],
                      name: HostName) -> dict[str, HostFilter]:
        """The scheduler filters a boot's zone and its flavor's
        ``aggregate_instance_extra_specs:`` make (none when it asks neither)."""
        specs = aggregate_specs(extra_specs)
        zone, _, host = (requested_zone or "").partition(":")
        host = host.split(":")[0]
        if not (zone or host or specs):
            return {}
        known = await self.host_aggregates()
        out: dict[str, HostFilter] = {}
        if zone:
            out["AvailabilityZoneFilter"] = zone_filter(zone, known.zone, name)
        if host:
            out["HostFilter"] = host_filter(host, name)
        if specs:
            out["AggregateInstanceExtraSpecsFilter"] = aggregate_specs_filter(
                specs, lambda h: known.metadata.get(h, {}), name)
        return out

    async def _host_known(self, host: str) -> bool:
        async with self.db.read() as s:
            return await s.scalar(select(ComputeNode.id).where(ComputeNode.host == host)) \
                is not None

    # --- inside a transaction ------------------------------------------------------------
    @staticmethod
    async def _row(s: AsyncSession, ident: int) -> Aggregate:
        row = await s.get(Aggregate, ident)
        if row is None:
            raise NotFound(f"Aggregate {ident} could not be found.")
        return row

    @staticmethod
    async def _unique_name(s: AsyncSession, name: str) -> None:
        if await s.scalar(select(Aggregate.id).where(Aggregate.name == name)) is not None:
            raise Conflict(f"Aggregate {name} already exists.")

    @staticmethod
    async def _hosts(s: AsyncSession, ids: Iterable[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for agg, host in await s.execute(
                select(AggregateHost.aggregate_id, AggregateHost.host)
                .where(AggregateHost.aggregate_id.in_(list(ids)))
                .order_by(AggregateHost.host)):
            out.setdefault(agg, []).append(host)
        return out

    @staticmethod
    async def _metadata(s: AsyncSession, ids: Iterable[int]) -> dict[int, dict[str, str]]:
        out: dict[int, dict[str, str]] = {}
        for agg, key, value in await s.execute(
                select(AggregateMetadata.aggregate_id, AggregateMetadata.key,
                       AggregateMetadata.value)
                .where(AggregateMetadata.aggregate_id.in_(list(ids)))):
            out.setdefault(agg, {})[key] = value
        return out

    async def _views(self, s: AsyncSession, rows: list[Aggregate]) -> list[AggregateView]:
        ids = [r.id for r in rows]
        hosts, meta = await self._hosts(s, ids), await self._metadata(s, ids)
        return [AggregateView(r.id, r.uuid, r.name, hosts.get(r.id, []), meta.get(r.id, {}),
                              r.created_at, r.updated_at) for r in rows]

    @staticmethod
    async def _zones_of(s: AsyncSession, host: str, exclude: int) -> set[str]:
        """The zones the host's other aggregates give it."""
        q = (select(AggregateMetadata.value)
             .join(AggregateHost, AggregateHost.aggregate_id == AggregateMetadata.aggregate_id)
             .where(AggregateHost.host == host, AggregateMetadata.key == AZ_KEY,
                    AggregateHost.aggregate_id != exclude))
        return set((await s.execute(q)).scalars())

    async def _set(self, s: AsyncSession, row: Aggregate,
                   changes: dict[str, str | None]) -> None:
        current = (await self._metadata(s, [row.id])).get(row.id, {})
        hosts = (await self._hosts(s, [row.id])).get(row.id, [])
        if AZ_KEY in changes and changes[AZ_KEY] != current.get(AZ_KEY):
            zone = changes[AZ_KEY]
            _check_zone(zone)
            for host in hosts:
                others = await self._zones_of(s, host, exclude=row.id)
                if zone is not None and others - {zone}:
                    raise BadRequest(f"Cannot update metadata of aggregate {row.id}. Reason: "
                                     f"One or more hosts already in availability zone(s) "
                                     f"{sorted(others)}.")
        for key, value in changes.items():
            if value is None:
                if key not in current:
                    continue  # Nova: removing an absent key is not an error
                await s.execute(delete(AggregateMetadata).where(
                    AggregateMetadata.aggregate_id == row.id, AggregateMetadata.key == key))
            elif key in current:
                item = await s.get(AggregateMetadata, (row.id, key))
                assert item is not None
                item.value = value
            else:
                s.add(AggregateMetadata(aggregate_id=row.id, key=key, value=value))
        await s.flush()
        if AZ_KEY in changes:
            await self._sync_zones(s, hosts)

    async def _sync_zones(self, s: AsyncSession, hosts: Iterable[str]) -> None:
        """Each host's compute node takes the zone its aggregates give it (the default
        zone when none does)."""
        for host in hosts:
            zones = await self._zones_of(s, host, exclude=-1)
            node = await s.scalar(select(ComputeNode).where(ComputeNode.host == host))
            if node is not None:
                node.availability_zone = min(zones) if zones else DEFAULT_AZ
