"""Concurrent claims through the API never overcommit, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.api.test_placement import Api, api  # noqa: F401  (fixture)
from tests.support.server import RunningCloud


def test_concurrent_claims_never_overcommit(cloud: RunningCloud, api: Api) -> None:  # noqa: F811
    rps = [api.provider(inventory={"VCPU": 10, "MEMORY_MB": 4096}) for _ in range(2)]
    project, user = str(uuid.uuid4()), str(uuid.uuid4())

    def claim(i: int) -> int:
        rp = rps[i % 2]["uuid"]
        other = rps[(i + 1) % 2]["uuid"]
        # each claim takes from both providers, in alternating order (deadlock bait)
        body = {"allocations": {rp: {"resources": {"VCPU": 1}},
                                other: {"resources": {"MEMORY_MB": 100}}},
                "project_id": project, "user_id": user, "consumer_generation": None}
        with httpx.Client(timeout=60) as client:
            r = client.put(f"{api.base}/allocations/{uuid.uuid4()}", json=body,
                           headers={"X-Auth-Token": api.token,
                                    "OpenStack-API-Version": "placement 1.28"})
        return r.status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(claim, range(60)))
    assert set(statuses) <= {204, 409}, statuses
    assert statuses.count(204) == 20
    for rp in rps:
        usages = api("GET", f"/resource_providers/{rp['uuid']}/usages").json()["usages"]
        assert usages["VCPU"] == 10
        assert usages["MEMORY_MB"] == 1000
