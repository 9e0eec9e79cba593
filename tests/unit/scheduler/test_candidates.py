"""Allocation candidates and host selection over real rows in SQLite."""

from __future__ import annotations

import time
import uuid

import pytest

from onestack.scheduler.allocations import Claim
from onestack.scheduler.candidates import CandidateQuery, RequestGroup
from onestack.scheduler.errors import NoValidHost
from onestack.scheduler.hosts import HostRequest
from onestack.scheduler.providers import MemberOf, ProviderFilter
from onestack.scheduler.service import Placement
from tests.unit.scheduler.conftest import compute_node


def flavor(vcpu: int = 1, ram: int = 512, disk: int = 1) -> dict[str, int]:
    return {"VCPU": vcpu, "MEMORY_MB": ram, "DISK_GB": disk}


async def test_candidates_filter_by_capacity_traits_aggregates(placement: Placement) -> None:
    small = await compute_node(placement, "small", vcpu=2)
    big = await compute_node(placement, "big", vcpu=32)
    ssd = await compute_node(placement, "ssd", vcpu=32)
    await placement.catalog.put_trait("CUSTOM_GOLD")
    rp = await placement.providers.get(ssd)
    await placement.providers.set_traits(ssd, ["STORAGE_DISK_SSD", "CUSTOM_GOLD"],
                                         rp.generation)
    agg = str(uuid.uuid4())
    rp = await placement.providers.get(big)
    await placement.providers.set_aggregates(big, [agg], rp.generation)

    def names(result: object) -> list[str]:
        from onestack.scheduler.candidates import CandidateResult

        assert isinstance(result, CandidateResult)
        return sorted(result.providers[next(iter(c.allocations))].name
                      for c in result.candidates)

    find = placement.candidates.find
    assert names(await find(CandidateQuery([RequestGroup("", flavor(1))]))) == [
        "big", "small", "ssd"]
    assert names(await find(CandidateQuery([RequestGroup("", flavor(4))]))) == ["big", "ssd"]
    assert names(await find(CandidateQuery([RequestGroup(
        "", flavor(4), required=[["STORAGE_DISK_SSD"]])]))) == ["ssd"]
    assert names(await find(CandidateQuery([RequestGroup(
        "", flavor(4), forbidden=["CUSTOM_GOLD"])]))) == ["big"]
    assert names(await find(CandidateQuery([RequestGroup(
        "", flavor(1), member_of=[MemberOf([agg])])]))) == ["big"]
    assert names(await find(CandidateQuery([RequestGroup(
        "", flavor(1), member_of=[MemberOf([agg], negated=True)])]))) == ["small", "ssd"]
    assert len((await find(CandidateQuery([RequestGroup("", flavor(1))], limit=2))).candidates
               ) == 2
    # usage counts: fill "small" and it drops out
    await placement.allocations.claim([Claim(str(uuid.uuid4()), {small: {"VCPU": 2}})])
    assert names(await find(CandidateQuery([RequestGroup("", flavor(1))]))) == ["big", "ssd"]


async def test_nested_tree_and_granular_groups(placement: Placement) -> None:
    host = await compute_node(placement, "host", vcpu=8, disk=0)
    nic1 = await compute_node(placement, "nic1", vcpu=0, ram=0, disk=0, parent=host)
    nic2 = await compute_node(placement, "nic2", vcpu=0, ram=0, disk=0, parent=host)
    for nic in (nic1, nic2):
        rp = await placement.providers.get(nic)
        await placement.inventories.replace_all(nic, rp.generation, {
            "SRIOV_NET_VF": {"total": 4, "reserved": 0, "min_unit": 1, "max_unit": 4,
                             "step_size": 1, "allocation_ratio": 1.0}})
    tree = await placement.providers.get(nic1)
    assert tree.root_uuid == host and tree.parent_uuid == host
    # unsuffixed: resources spread over the tree
    res = await placement.candidates.find(CandidateQuery([RequestGroup(
        "", {"VCPU": 2, "SRIOV_NET_VF": 1})]))
    assert len(res.candidates) == 2
    # two granular VF groups, isolated: one VF from each NIC
    groups = [RequestGroup("", {"VCPU": 1}), RequestGroup("1", {"SRIOV_NET_VF": 1}),
              RequestGroup("2", {"SRIOV_NET_VF": 1})]
    res = await placement.candidates.find(CandidateQuery(groups, group_policy="isolate"))
    assert len(res.candidates) == 2
    for cand in res.candidates:
        assert cand.mappings["1"] != cand.mappings["2"]
    res = await placement.candidates.find(CandidateQuery(groups, group_policy="none"))
    assert len(res.candidates) == 4
    # more VFs than one NIC has, in one group: none
    res = await placement.candidates.find(CandidateQuery([RequestGroup(
        "1", {"SRIOV_NET_VF": 5})], group_policy="none"))
    assert res.candidates == []
    # nested parent/child capacity merge: both groups on the same NIC must fit together
    groups = [RequestGroup("1", {"SRIOV_NET_VF": 3}), RequestGroup("2", {"SRIOV_NET_VF": 3})]
    res = await placement.candidates.find(CandidateQuery(groups, group_policy="none"))
    assert all(c.mappings["1"] != c.mappings["2"] for c in res.candidates)
    assert len(res.candidates) == 2


async def test_select_hosts_ranks_and_explains(placement: Placement) -> None:
    await compute_node(placement, "a", vcpu=4)
    await compute_node(placement, "b", vcpu=16)
    await compute_node(placement, "c", vcpu=1)
    spread = await placement.select_hosts(HostRequest(flavor(2)))
    assert [h.name for h in spread.hosts] == ["b", "a"]
    assert spread.rejected["c"] == "VCPU: 2 is above max_unit 1"
    pack = await placement.select_hosts(HostRequest(flavor(2), weigher="pack"))
    assert [h.name for h in pack.hosts] == ["a", "b"]
    filtered = await placement.select_hosts(HostRequest(
        flavor(2), filters={"not_b": lambda h: "host b is excluded" if h.name == "b" else None}))
    assert [h.name for h in filtered.hosts] == ["a"]
    assert filtered.rejected["b"] == "not_b: host b is excluded"
    with pytest.raises(NoValidHost) as err:
        await placement.select_hosts(HostRequest(flavor(64)))
    assert "a: VCPU" in err.value.message and "b: VCPU" in err.value.message
    assert set(err.value.reasons) == {"a", "b", "c"}
    with pytest.raises(NoValidHost, match="lacks required trait"):
        await placement.select_hosts(HostRequest(flavor(1), required_traits=["COMPUTE_NODE"]))


async def test_candidates_over_1000_providers_is_fast(placement: Placement) -> None:
    from onestack.db.models.placement import Inventory, ResourceProvider

    async with placement.db.write() as s:
        for i in range(1000):
            rp = ResourceProvider(uuid=str(uuid.uuid4()), name=f"cn{i}", generation=1)
            s.add(rp)
            await s.flush()
            rp.root_provider_id = rp.id
            for rc, total in (("VCPU", 32), ("MEMORY_MB", 131072), ("DISK_GB", 2000)):
                s.add(Inventory(resource_provider_id=rp.id, resource_class=rc, total=total,
                                reserved=0, min_unit=1, max_unit=total, step_size=1,
                                allocation_ratio=1.0))
    query = CandidateQuery([RequestGroup("", flavor(2, 2048, 20))])
    await placement.candidates.find(query)
    best = min([await _timed(placement, query) for _ in range(5)])
    print(f"candidates over 1000 providers: {best * 1000:.1f} ms")
    assert best < 0.1, best  # the target is 20 ms; leave room for slow CI machines


async def _timed(placement: Placement, query: CandidateQuery) -> float:
    started = time.perf_counter()
    res = await placement.candidates.find(query)
    assert len(res.candidates) == 1000
    return time.perf_counter() - started


async def test_snapshot_follows_writes_of_other_processes(placement: Placement) -> None:
    """A second Placement on the same database (another API process) sees every change."""
    from onestack.db.engine import Database

    other = Placement(Database(placement.db.url))
    try:
        await compute_node(placement, "h1", vcpu=2)
        query = CandidateQuery([RequestGroup("", flavor(2))])
        assert len((await other.candidates.find(query)).candidates) == 1
        rp = (await placement.providers.find(ProviderFilter()))[0]
        await placement.inventories.set_one(rp.uuid, "VCPU", rp.generation, {
            "total": 1, "reserved": 0, "min_unit": 1, "max_unit": 1, "step_size": 1,
            "allocation_ratio": 1.0})
        assert (await other.candidates.find(query)).candidates == []
        await compute_node(placement, "h2", vcpu=4)
        assert len((await other.candidates.find(query)).candidates) == 1
        await placement.allocations.claim([Claim(str(uuid.uuid4()), {
            (await placement.providers.find(ProviderFilter(name="h2")))[0].uuid: {"VCPU": 3}})])
        assert (await other.candidates.find(query)).candidates == []
    finally:
        await other.db.close()


async def test_usage_follows_claims_releases_and_new_providers(placement: Placement) -> None:
    """Usage is re-read for the providers whose generation moved (claims here, seen there)."""
    from onestack.db.engine import Database

    other = Placement(Database(placement.db.url))
    query = CandidateQuery([RequestGroup("", flavor(3))])

    async def fitting() -> list[str]:
        res = await other.candidates.find(query)
        return sorted(res.providers[next(iter(c.allocations))].name for c in res.candidates)

    try:
        hosts = [await compute_node(placement, f"u{i}", vcpu=4) for i in range(3)]
        assert await fitting() == ["u0", "u1", "u2"]
        consumer = str(uuid.uuid4())
        await placement.allocations.claim([Claim(consumer, {hosts[0]: {"VCPU": 2}})])
        assert await fitting() == ["u1", "u2"]
        await placement.allocations.claim([Claim(consumer, {hosts[1]: {"VCPU": 2}})])
        assert await fitting() == ["u0", "u2"]  # moved: u0 free again
        await placement.allocations.claim([Claim(consumer, {hosts[2]: {"VCPU": 2}})])
        assert await fitting() == ["u0", "u1"]
        await placement.allocations.claim([Claim(consumer, {})])
        assert await fitting() == ["u0", "u1", "u2"]
        # a provider deleted and a new one made (SQLite may reuse its id): nothing carried over
        await placement.providers.delete(hosts[2])
        await compute_node(placement, "u3", vcpu=4)
        assert await fitting() == ["u0", "u1", "u3"]
    finally:
        await other.db.close()
