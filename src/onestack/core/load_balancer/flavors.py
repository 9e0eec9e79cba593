"""Flavors, availability zones and their profiles (Octavia API 2.6 and 2.14) for the
haproxy provider.

What the provider offers is data: ``FLAVOR_CAPABILITIES`` and ``AZ_CAPABILITIES`` (name ->
description, served by ``/providers/{provider}/..._capabilities``). A profile's data is
checked against them as Octavia's amphora driver checks its JSON schema: data that is not a
JSON object is 400 (InvalidOption), a key or value the provider does not do is 501
(ProviderUnsupportedOptionError), a ``compute_zone`` that is no Nova availability zone 400.

What they mean on this data plane: every load balancer is one haproxy (and nftables for
UDP) in a namespace on the network node, so ``loadbalancer_topology`` is SINGLE only, and an
availability zone's ``compute_zone`` is the Nova availability zone (a host aggregate's
``availability_zone``, or ``nova``) of the network node: a load balancer asking for an
availability zone whose compute zone is not the network node's is refused (400), not
placed where it was not asked for."""

from __future__ import annotations

import json
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.load_balancer import errors
from onestack.core.load_balancer.rules import PROVIDER_ALIASES
from onestack.db.engine import Database
from onestack.db.models.base import Base
from onestack.db.models.compute import AggregateHost, AggregateMetadata
from onestack.db.models.load_balancer import LoadBalancer
from onestack.db.models.load_balancer_flavor import (
    LbAvailabilityZone,
    LbAzProfile,
    LbFlavor,
    LbFlavorProfile,
)
from onestack.errors import BadRequest, Conflict, NotFound

DEFAULT_ZONE = "nova"  # Nova's default availability zone (a host in no zone aggregate)
TOPOLOGIES = ("SINGLE",)
# Descriptions carry no comma or colon: tempest's expected_*_capability is a DictOpt.
FLAVOR_CAPABILITIES = {
    "loadbalancer_topology": "The load balancer topology. One of SINGLE - one haproxy "
                             "per load balancer in its own network namespace on the "
                             "network node (this provider has no ACTIVE_STANDBY).",
    "connection_limit": "The connection_limit of the load balancer's listeners when a "
                        "listener names none (haproxy maxconn; -1 unlimited).",
    "timeout_client_data": "The timeout_client_data (ms) of its listeners when a listener "
                           "names none (haproxy timeout client).",
    "timeout_member_connect": "The timeout_member_connect (ms) of its listeners when a "
                              "listener names none (haproxy timeout connect).",
    "timeout_member_data": "The timeout_member_data (ms) of its listeners when a listener "
                           "names none (haproxy timeout server).",
}
# Flavor keys that are listener defaults, and their ranges (the listener API's).
LISTENER_DEFAULTS = {"connection_limit": (-1, 2**31 - 1), "timeout_client_data": (0, 31536000),
                     "timeout_member_connect": (0, 31536000),
                     "timeout_member_data": (0, 31536000)}
AZ_CAPABILITIES = {
    "compute_zone": "The Nova availability zone of the network node that runs the load "
                    "balancer (its namespace and haproxy).",
}


@dataclass(frozen=True)
class ProfileKind:
    model: type[Base]
    data_field: str  # flavor_data
    label: str  # "Flavor profile", as Octavia's messages
    user_kind: str  # "flavor": the flavors or availability zones naming a profile


@dataclass(frozen=True)
class UserKind:
    model: type[Base]
    key: str  # the primary key users name: id (flavors) or name (availability zones)
    profile_field: str  # flavor_profile_id
    label: str  # "Flavor"
    lb_attr: str  # the load balancer attribute naming one: flavor_id
    disabled_option: str  # Octavia's DisabledOption 'option'
    profile: ProfileKind


FLAVOR_PROFILE = ProfileKind(LbFlavorProfile, "flavor_data", "Flavor profile", "flavor")
AZ_PROFILE = ProfileKind(LbAzProfile, "availability_zone_data", "Availability Zone Profile",
                         "availability_zone")
FLAVOR = UserKind(LbFlavor, "id", "flavor_profile_id", "Flavor", "flavor_id", "flavor",
                  FLAVOR_PROFILE)
AVAILABILITY_ZONE = UserKind(LbAvailabilityZone, "name", "availability_zone_profile_id",
                             "Availability Zone", "availability_zone", "availability_zone",
                             AZ_PROFILE)
USERS = {"flavor": FLAVOR, "availability_zone": AVAILABILITY_ZONE}


def _uuid() -> str:
    return str(uuidlib.uuid4())


def invalid_option(value: object, option: str) -> BadRequest:
    """Octavia's InvalidOption."""
    return BadRequest(f"{value} is not a valid option for {option}")


def check_provider(name: str) -> str:
    if name not in PROVIDER_ALIASES:
        raise BadRequest(f"Provider '{name}' is not enabled.")
    return name


def parse_data(text: str, field: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        raise invalid_option(text, field.replace("_", " ")) from None
    if not isinstance(data, dict):
        raise errors.unsupported(f"{text} is not of type 'object'")
    return data


def _only(data: dict[str, Any], offered: dict[str, str]) -> None:
    extra = [k for k in data if k not in offered]
    if extra:
        names = ", ".join(repr(k) for k in extra)
        raise errors.unsupported(f"Additional properties are not allowed ({names} "
                                 f"{'was' if len(extra) == 1 else 'were'} unexpected)")


def _string(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise errors.unsupported(f"{key} {json.dumps(value)} is not of type 'string'")
    return value


def validate_flavor(data: dict[str, Any]) -> None:
    _only(data, FLAVOR_CAPABILITIES)
    topology = _string(data, "loadbalancer_topology")
    if "loadbalancer_topology" in data and topology not in TOPOLOGIES:
        raise errors.unsupported(f"loadbalancer_topology '{topology}' is not one of "
                                 f"{list(TOPOLOGIES)} (one haproxy per load balancer: no "
                                 "standby)")
    for key, (lo, hi) in LISTENER_DEFAULTS.items():
        if key not in data:
            continue
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise errors.unsupported(f"{key} {json.dumps(value)} is not of type 'integer'")
        if not lo <= value <= hi:
            raise errors.unsupported(f"{key} {value} is not between {lo} and {hi}")


def listener_defaults(data: dict[str, Any]) -> dict[str, int]:
    """What a flavor's data sets for the listeners of its load balancers."""
    return {k: int(v) for k, v in data.items() if k in LISTENER_DEFAULTS}


async def zones(s: AsyncSession) -> dict[str, set[str]]:
    """Each Nova availability zone an aggregate makes (and ``nova``) -> its hosts."""
    rows = (await s.execute(
        select(AggregateMetadata.value, AggregateHost.host)
        .join(AggregateHost, AggregateHost.aggregate_id == AggregateMetadata.aggregate_id,
              isouter=True)
        .where(AggregateMetadata.key == "availability_zone"))).all()
    out: dict[str, set[str]] = {DEFAULT_ZONE: set()}
    for zone, host in rows:
        out.setdefault(zone, set())
        if host:
            out[zone].add(host)
    return out


def zone_of(host: str, by_zone: dict[str, set[str]]) -> str:
    """A host's zone: the first of its aggregates' zones (as compute nodes take it)."""
    mine = sorted(z for z, hosts in by_zone.items() if host in hosts)
    return mine[0] if mine else DEFAULT_ZONE


async def validate_az(s: AsyncSession, data: dict[str, Any]) -> None:
    _only(data, AZ_CAPABILITIES)
    zone = _string(data, "compute_zone")
    if zone is not None:
        known = await zones(s)
        if zone not in known:
            raise errors.invalid("compute_zone", zone, "Not a Nova availability zone; "
                                 f"the zones are: {', '.join(sorted(known))}")


async def validate(s: AsyncSession, kind: ProfileKind, data: dict[str, Any]) -> None:
    if kind is FLAVOR_PROFILE:
        validate_flavor(data)
    else:
        await validate_az(s, data)


class FlavorCatalog:
    """The four resources, one transaction per change. ``network_node`` names the host
    that runs the load balancers (the network node)."""

    def __init__(self, db: Database, network_node: Callable[[], str]) -> None:
        self.db = db
        self.network_node = network_node

    # --- profiles --------------------------------------------------------------------------
    async def profiles(self, kind: ProfileKind) -> list[Any]:
        async with self.db.read() as s:
            model: Any = kind.model
            return list((await s.execute(select(model).order_by(model.id))).scalars())

    async def profile(self, kind: ProfileKind, ident: str) -> Any:
        async with self.db.read() as s:
            return await self._profile(s, kind, ident)

    async def _profile(self, s: AsyncSession, kind: ProfileKind, ident: str) -> Any:
        row = await s.get(kind.model, ident)
        if row is None:
            raise NotFound(f"{kind.label} {ident} not found.")
        return row

    async def create_profile(self, kind: ProfileKind, values: dict[str, Any]) -> Any:
        check_provider(values["provider_name"])
        data = parse_data(values[kind.data_field], kind.data_field)
        async with self.db.write() as s:
            await validate(s, kind, data)
            row = kind.model(id=_uuid(), **values)
            s.add(row)
            await s.flush()
            return row

    async def update_profile(self, kind: ProfileKind, ident: str, values: dict[str, Any]
                             ) -> Any:
        for key in ("name", "provider_name", kind.data_field):
            if key in values and values[key] is None:
                raise invalid_option(None, key)
        async with self.db.write() as s:
            row = await self._profile(s, kind, ident)
            if "provider_name" in values or kind.data_field in values:
                user = USERS[kind.user_kind]
                used = await s.scalar(select(user.model).where(
                    getattr(user.model, user.profile_field) == ident).limit(1))
                if used is not None:
                    raise Conflict(f"{kind.label} {ident} is in use and cannot be modified.")
            if kind.data_field in values:
                data = parse_data(values[kind.data_field], kind.data_field)
                check_provider(values.get("provider_name", row.provider_name))
                await validate(s, kind, data)
            elif "provider_name" in values:
                check_provider(values["provider_name"])
            for key, value in values.items():
                setattr(row, key, value)
            await s.flush()
            return row

    async def delete_profile(self, kind: ProfileKind, ident: str) -> None:
        async with self.db.write() as s:
            row = await self._profile(s, kind, ident)
            user = USERS[kind.user_kind]
            used = await s.scalar(select(user.model).where(
                getattr(user.model, user.profile_field) == ident).limit(1))
            if used is not None:
                raise Conflict(f"{kind.label} {ident} is in use and cannot be modified.")
            await s.delete(row)

    # --- flavors and availability zones ----------------------------------------------------
    async def listing(self, kind: UserKind) -> list[Any]:
        async with self.db.read() as s:
            model: Any = kind.model
            return list((await s.execute(select(model).order_by(
                getattr(model, kind.key)))).scalars())

    async def get(self, kind: UserKind, key: str) -> Any:
        async with self.db.read() as s:
            return await self._get(s, kind, key)

    async def _get(self, s: AsyncSession, kind: UserKind, key: str, lock: bool = False
                   ) -> Any:
        model: Any = kind.model
        q = select(model).where(getattr(model, kind.key) == key)
        row = (await s.execute(q.with_for_update() if lock else q)).scalars().first()
        if row is None:
            raise NotFound(f"{kind.label} {key} not found.")
        return row

    async def create(self, kind: UserKind, values: dict[str, Any]) -> Any:
        model: Any = kind.model
        exists = f"A {kind.label.lower()} of {values['name']} already exists."
        try:
            async with self.db.write() as s:
                profile_id = values[kind.profile_field]
                if await s.get(kind.profile.model, profile_id) is None:
                    raise errors.invalid(kind.profile_field, profile_id,
                                         f"{kind.profile.label} {profile_id} not found.")
                if await s.scalar(select(model).where(model.name == values["name"])):
                    raise Conflict(exists)
                row = model(**values) if kind.key == "name" else model(id=_uuid(), **values)
                s.add(row)
                await s.flush()
                return row
        except IntegrityError:
            raise Conflict(exists) from None

    async def update(self, kind: UserKind, key: str, values: dict[str, Any]) -> Any:
        try:
            async with self.db.write() as s:
                row = await self._get(s, kind, key, lock=True)
                model: Any = kind.model
                name = values.get("name")
                if name is not None and name != row.name and await s.scalar(
                        select(model).where(model.name == name)):
                    raise Conflict(f"A {kind.label.lower()} of {name} already exists.")
                for field, value in values.items():
                    setattr(row, field, value)
                await s.flush()
                return row
        except IntegrityError:
            raise Conflict(f"A {kind.label.lower()} of {values.get('name')} already "
                           "exists.") from None

    async def delete(self, kind: UserKind, key: str) -> None:
        async with self.db.write() as s:
            row = await self._get(s, kind, key, lock=True)
            for attrs in (await s.execute(select(LoadBalancer.attrs))).scalars():
                if (attrs or {}).get(kind.lb_attr) == key:
                    raise Conflict(f"{kind.label} {key} is in use and cannot be modified.")
            await s.delete(row)

    # --- a load balancer's create ----------------------------------------------------------
    async def check_lb(self, s: AsyncSession, data: dict[str, Any]) -> dict[str, int]:
        """``flavor_id`` and ``availability_zone`` of a load balancer being made (in its
        transaction: the rows are locked, so neither is deleted under it). Unknown: 400
        (Octavia's ValidationException), disabled: 400 (DisabledOption); their data is
        checked again; an availability zone whose compute zone is not the network node's
        is refused. Returns the flavor's listener defaults: the load balancer keeps them
        (as Octavia applies a flavor at create: a later change of the profile changes no
        existing load balancer)."""
        defaults: dict[str, int] = {}
        for kind, invalid in ((FLAVOR, "Invalid flavor_id."),
                              (AVAILABILITY_ZONE, "Invalid availability zone.")):
            key = data.get(kind.lb_attr)
            if not key:
                continue
            try:
                row = await self._get(s, kind, key, lock=True)
            except NotFound:
                raise errors.validation(invalid) from None
            if not row.enabled:
                raise BadRequest(f"The selected {kind.disabled_option} is not allowed in "
                                 f"this deployment: {key}")
            profile = await self._profile(s, kind.profile,
                                          getattr(row, kind.profile_field))
            settings = parse_data(getattr(profile, kind.profile.data_field),
                                  kind.profile.data_field)
            await validate(s, kind.profile, settings)
            if kind is FLAVOR:
                defaults = listener_defaults(settings)
            if kind is AVAILABILITY_ZONE and settings.get("compute_zone"):
                await self._check_zone(s, key, settings["compute_zone"])
        return defaults

    async def _check_zone(self, s: AsyncSession, az: str, compute_zone: str) -> None:
        host = self.network_node()
        here = zone_of(host, await zones(s))
        if here != compute_zone:
            raise errors.validation(
                f"Availability zone {az} is compute zone {compute_zone}, where this cloud "
                f"runs no load balancers: they run on the network node {host}, in compute "
                f"zone {here}.")
