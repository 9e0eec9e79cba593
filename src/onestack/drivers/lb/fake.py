"""An in-memory load balancer driver: remembers specs, reports members ONLINE (or what a test
set with ``set_member_status``); for unit, API and scale tests."""

from __future__ import annotations

from onestack.drivers.lb.base import LbDriver, LbStatus, LoadBalancerSpec, ObjectStatus


class FakeLbDriver(LbDriver):
    name = "fake"

    def __init__(self) -> None:
        self.specs: dict[str, LoadBalancerSpec] = {}
        self.ensure_calls = 0
        self.member_status: dict[str, str] = {}  # member id -> operating status

    async def ensure(self, spec: LoadBalancerSpec) -> None:
        self.ensure_calls += 1
        self.specs[spec.id] = spec

    async def destroy(self, lb_id: str) -> None:
        self.specs.pop(lb_id, None)

    async def running(self) -> list[str]:
        return sorted(self.specs)

    def set_member_status(self, member_id: str, status: str) -> None:
        self.member_status[member_id] = status

    async def status(self, lb_id: str) -> LbStatus:
        spec = self.specs.get(lb_id)
        if spec is None:
            return LbStatus(running=False)
        out = LbStatus(running=True)
        for pool in spec.pools:
            states = []
            for m in pool.members:
                if not (pool.admin_state_up and m.admin_state_up):
                    state = "OFFLINE"
                elif pool.health_monitor is None:
                    state = self.member_status.get(m.id, "NO_MONITOR")
                else:
                    state = self.member_status.get(m.id, "ONLINE")
                out.members[m.id] = ObjectStatus(state)
                states.append(state)
            live = [s for s in states if s != "OFFLINE"]
            if live and all(s == "ERROR" for s in live):
                pool_state = "ERROR"
            elif "ERROR" in live:
                pool_state = "DEGRADED"
            else:
                pool_state = "ONLINE" if pool.admin_state_up else "OFFLINE"
            out.pools[pool.id] = ObjectStatus(pool_state)
        for lis in spec.listeners:
            out.listeners[lis.id] = ObjectStatus("ONLINE" if lis.admin_state_up else "OFFLINE")
        return out
