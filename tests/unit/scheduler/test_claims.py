"""Claim arithmetic: capacity = (total - reserved) * allocation_ratio - used, atomically."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from onestack.errors import BadRequest
from onestack.scheduler.allocations import Claim
from onestack.scheduler.base import capacity, fits
from onestack.scheduler.errors import CapacityExceeded, ConcurrentUpdate, InventoryInUse
from onestack.scheduler.service import Placement
from tests.unit.scheduler.conftest import compute_node


def test_capacity_formula() -> None:
    assert capacity(8, 0, 16.0) == 128
    assert capacity(16384, 512, 1.5) == 23808
    assert capacity(10, 10, 2.0) == 0


def test_fits_checks_units_and_capacity() -> None:
    class Inv:
        total, reserved, allocation_ratio = 10, 2, 1.0
        min_unit, max_unit, step_size = 2, 6, 2

    assert fits(Inv, 0, 4) is None
    assert fits(Inv, 0, 1) is not None and "min_unit" in str(fits(Inv, 0, 1))
    assert "max_unit" in str(fits(Inv, 0, 8))
    assert "step_size" in str(fits(Inv, 0, 3))
    assert fits(Inv, 4, 4) is None  # 8 of 8 usable
    assert "free" in str(fits(Inv, 6, 4))


async def test_claim_and_overcommit_refused(placement: Placement) -> None:
    host = await compute_node(placement, "h1", vcpu=4, ratio=2.0)
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    await placement.allocations.claim([Claim(a, {host: {"VCPU": 6, "MEMORY_MB": 1024}},
                                             "p", "u", None)])
    with pytest.raises(CapacityExceeded):
        await placement.allocations.claim([Claim(b, {host: {"VCPU": 3}}, "p", "u", None)])
    await placement.allocations.claim([Claim(b, {host: {"VCPU": 2}}, "p", "u", None)])
    _rp, usages = await placement.inventories.usages(host)
    assert usages == {"VCPU": 8, "MEMORY_MB": 1024, "DISK_GB": 0}
    got = await placement.allocations.of_consumer(a)
    assert got.generation == 1 and got.project_id == "p"
    assert got.providers[host][1] == {"VCPU": 6, "MEMORY_MB": 1024}
    assert await placement.allocations.usages("p") == {"VCPU": 8, "MEMORY_MB": 1024}


async def test_consumer_generation(placement: Placement) -> None:
    host = await compute_node(placement, "h1")
    c = str(uuid.uuid4())
    await placement.allocations.claim([Claim(c, {host: {"VCPU": 1}}, "p", "u", None)])
    with pytest.raises(ConcurrentUpdate):
        await placement.allocations.claim([Claim(c, {host: {"VCPU": 2}}, "p", "u", None)])
    with pytest.raises(ConcurrentUpdate):
        await placement.allocations.claim([Claim(c, {host: {"VCPU": 2}}, "p", "u", 7)])
    await placement.allocations.claim([Claim(c, {host: {"VCPU": 2}}, "p", "u", 1)])
    assert (await placement.allocations.of_consumer(c)).generation == 2
    await placement.allocations.claim([Claim(c, {}, "p", "u", 2)])
    assert (await placement.allocations.of_consumer(c)).providers == {}


async def test_claim_rules(placement: Placement) -> None:
    host = await compute_node(placement, "h1", disk=0)
    c = str(uuid.uuid4())
    with pytest.raises(BadRequest):
        await placement.allocations.claim([Claim(c, {str(uuid.uuid4()): {"VCPU": 1}})])
    with pytest.raises(CapacityExceeded, match="DISK_GB"):
        await placement.allocations.claim([Claim(c, {host: {"DISK_GB": 1}})])
    before = (await placement.providers.get(host)).generation
    await placement.allocations.claim([Claim(c, {host: {"VCPU": 1}})])
    assert (await placement.providers.get(host)).generation == before + 1
    with pytest.raises(InventoryInUse):
        await placement.inventories.delete_one(host, "VCPU")
    rp = await placement.providers.get(host)
    with pytest.raises(ConcurrentUpdate):
        await placement.inventories.set_one(host, "VCPU", rp.generation - 1, {"total": 4})


async def test_concurrent_claims_never_overcommit(placement: Placement) -> None:
    host = await compute_node(placement, "h1", vcpu=10)

    async def one() -> bool:
        try:
            await placement.allocations.claim([Claim(str(uuid.uuid4()), {host: {"VCPU": 3}},
                                                     "p", "u", None)])
            return True
        except CapacityExceeded:
            return False

    results = await asyncio.gather(*(one() for _ in range(10)))
    assert sum(results) == 3
    _rp, usages = await placement.inventories.usages(host)
    assert usages["VCPU"] == 9
