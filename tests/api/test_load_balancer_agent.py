"""The load balancer agent's passes on a real (SQLite) database with the fake driver: a load
balancer whose host is not ready yet (its network's bridge not made: LbNotReady) stays
PENDING_CREATE and is tried again, then goes ACTIVE; one that stays not ready goes ERROR
after NOT_READY_FOR; any other data plane failure is ERROR at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from onestack.agent import load_balancer as agent_module
from onestack.agent.load_balancer import LoadBalancerAgent
from onestack.context import RequestContext
from onestack.core.load_balancer.service import LoadBalancerService
from onestack.core.network.service import NetworkService
from onestack.db import migrate
from onestack.db.engine import Database
from onestack.drivers.lb.base import LbError, LbNotReady, LoadBalancerSpec
from onestack.drivers.lb.fake import FakeLbDriver

DEMO = RequestContext(project_id="demo-p", roles=["member"])


class FlakyHost(FakeLbDriver):
    """The fake driver, failing ``ensure`` with the queued errors first."""

    def __init__(self, *errors: LbError) -> None:
        super().__init__()
        self.errors = list(errors)
        self.tries = 0

    async def ensure(self, spec: LoadBalancerSpec) -> None:
        self.tries += 1
        if self.errors:
            raise self.errors.pop(0)
        await super().ensure(spec)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[LoadBalancerService, str, Database]]:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate.upgrade(url)
    db = Database(url)
    try:
        net = NetworkService(db)
        n = (await net.networks.create(DEMO, [{"name": "private"}]))[0]
        s = (await net.subnets.create(DEMO, [{"network_id": n.id, "cidr": "10.0.0.0/24",
                                              "ip_version": 4}]))[0]
        yield LoadBalancerService(db, net.changed), s.id, db
    finally:
        await db.close()


async def _state(lbs: LoadBalancerService, lb_id: str) -> str:
    return str((await lbs.tree(DEMO, lb_id, False)).lb.provisioning_status)


async def test_not_ready_waits_then_active_or_error(env: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """One database for the three cases (a migrated database takes seconds to make)."""
    lbs, subnet_id, db = env
    # not ready twice: PENDING_CREATE after each pass, ACTIVE on the third
    driver = FlakyHost(LbNotReady("bridge 'onb-x' does not exist"), LbNotReady("still not"))
    agent = LoadBalancerAgent(db, lbs, driver, interval=60)
    lb_id = (await lbs.create_lb(DEMO, {"vip_subnet_id": subnet_id}, {})).lb.id
    await agent.reconcile()
    assert await _state(lbs, lb_id) == "PENDING_CREATE"
    await agent.reconcile()
    assert await _state(lbs, lb_id) == "PENDING_CREATE"
    await agent.reconcile()
    assert await _state(lbs, lb_id) == "ACTIVE" and driver.tries == 3
    assert lb_id in await driver.running()

    # another failure: ERROR at once
    driver.errors.append(LbError("haproxy -c: bad"))
    lb_id = (await lbs.create_lb(DEMO, {"vip_subnet_id": subnet_id}, {})).lb.id
    await agent.reconcile()
    assert await _state(lbs, lb_id) == "ERROR" and not driver.errors

    # not ready for longer than NOT_READY_FOR: ERROR
    monkeypatch.setattr(agent_module, "NOT_READY_FOR", 0.0)
    driver.errors.append(LbNotReady("no bridge"))
    lb_id = (await lbs.create_lb(DEMO, {"vip_subnet_id": subnet_id}, {})).lb.id
    await agent.reconcile()
    assert await _state(lbs, lb_id) == "ERROR" and not driver.errors
