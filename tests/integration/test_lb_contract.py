"""The load balancer driver contract, run against the fake and (as root, with haproxy) the
haproxy driver: ensure, running, status, an idempotent second ensure, destroy (twice)."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from onestack.drivers.lb import DRIVERS
from onestack.drivers.lb.base import (
    LbDriver,
    ListenerSpec,
    LoadBalancerSpec,
    MemberSpec,
    PoolSpec,
)
from onestack.drivers.lb.fake import FakeLbDriver
from onestack.drivers.lb.haproxy import HaproxyLbDriver
from tests.integration.lb_net import SUBNET, Net, sh, skip_reason


@pytest.fixture(params=["fake", "haproxy"])
async def driver(request: pytest.FixtureRequest) -> AsyncIterator[tuple[LbDriver, Net | None]]:
    if request.param == "fake":
        yield FakeLbDriver(), None
        return
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    tmp = Path(tempfile.mkdtemp(prefix="olbt-"))
    net = Net()
    real = HaproxyLbDriver(tmp / "state")
    try:
        net.setup(backends=0)
        yield real, net
    finally:
        try:
            for lb_id in await real.running():
                await real.destroy(lb_id)
        finally:
            net.close()
            sh("rm", "-rf", str(tmp))


def spec_for(net: Net | None) -> LoadBalancerSpec:
    vip = (net or Net(tag="fake00")).vip_port(20)
    pool = PoolSpec(id="p", protocol="TCP", lb_algorithm="ROUND_ROBIN", members=(
        MemberSpec(id="m1", address=f"{SUBNET}.31", protocol_port=8000),
        MemberSpec(id="m2", address=f"{SUBNET}.32", protocol_port=8000,
                   admin_state_up=False)))
    lis = ListenerSpec(id="l", protocol="TCP", protocol_port=8000, default_pool_id="p")
    return LoadBalancerSpec(id="contract-lb", vip_address=f"{SUBNET}.20", vip=vip,
                            listeners=(lis,), pools=(pool,))


def test_registered() -> None:
    assert DRIVERS["haproxy"] is HaproxyLbDriver and DRIVERS["fake"] is FakeLbDriver


@pytest.mark.integration
async def test_contract(driver: tuple[LbDriver, Net | None]) -> None:
    d, net = driver
    spec = spec_for(net)
    assert await d.running() == []
    assert not (await d.status(spec.id)).running
    await d.ensure(spec)
    assert await d.running() == [spec.id]
    st = await d.status(spec.id)
    assert st.running
    assert {k: v.operating_status for k, v in st.members.items()} == {
        "m1": "NO_MONITOR", "m2": "OFFLINE"}
    assert st.pools["p"].operating_status == "ONLINE"
    assert st.listeners["l"].operating_status == "ONLINE"
    await d.ensure(spec)
    assert await d.running() == [spec.id]
    await d.destroy(spec.id)
    assert await d.running() == []
    assert not (await d.status(spec.id)).running
    await d.destroy(spec.id)
