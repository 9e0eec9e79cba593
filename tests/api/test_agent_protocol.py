"""The agent protocol's version on the internal agent API: a controller of protocol N takes
agents of N and N-1 (an agent from before the header is 1) and refuses the others with a
409 that says which side to upgrade; a malformed header or heartbeat body is a 400."""

from __future__ import annotations

from pathlib import Path

import httpx

from onestack.agent import protocol
from tests.api.test_agent_http import create_credential
from tests.support.server import RunningCloud


def test_controller_takes_agents_one_protocol_older(cloud: RunningCloud, tmp_path: Path
                                                    ) -> None:
    secret = create_credential(cloud, "proto-host", tmp_path / "credential")
    url = f"{cloud.base_url}/internal/agent/v1/hosts/proto-host/heartbeat"
    bearer = {"Authorization": f"Bearer {secret}"}

    def beat(version: str | None, body: object = None) -> httpx.Response:
        headers = dict(bearer) | ({protocol.HEADER: version} if version is not None else {})
        return httpx.post(url, headers=headers, json=body)

    assert protocol.OLDEST == protocol.PROTOCOL - 1
    r = beat(None)
    assert r.status_code == 200, r.text  # an agent from before the version (protocol 1)
    assert beat(str(protocol.OLDEST)).status_code == 200
    assert beat(str(protocol.PROTOCOL), {"version": "0.1.0"}).status_code == 200
    old = beat(str(protocol.OLDEST - 1))
    assert old.status_code == 409 and "upgrade the agent" in old.json()["error"]["message"]
    new = beat(str(protocol.PROTOCOL + 1))
    assert new.status_code == 409
    assert "upgrade the API servers" in new.json()["error"]["message"]
    bad = beat("two")
    assert bad.status_code == 400 and protocol.HEADER in bad.json()["error"]["message"]
    assert beat(str(protocol.PROTOCOL), {"version": 5}).status_code == 400
    assert beat(str(protocol.PROTOCOL), {"release": "x"}).status_code == 400
    # the credential is checked first: a refused protocol tells a stranger nothing
    assert httpx.post(url, headers={protocol.HEADER: "0"}).status_code == 401
