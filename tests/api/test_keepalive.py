"""A client that pools connections (keystoneauth, boto3, a browser) reuses one after a pause
of several seconds: the server still has it open, so the request is answered instead of
failing with "connection reset by peer" (uvicorn closes idle connections after 5 s unless
told otherwise; ``[server] keep_alive_timeout``)."""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlsplit

import pytest

from tests.support.server import RunningCloud

PAUSE = 6.5  # longer than uvicorn's default keep-alive of 5 s


def test_a_pooled_connection_survives_a_pause(cloud: RunningCloud) -> None:
    if not cloud.settings.database_url.startswith("sqlite"):
        pytest.skip("the HTTP server is the same on PostgreSQL")
    assert cloud.settings.server.keep_alive_timeout > PAUSE
    url = urlsplit(cloud.base_url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    try:
        for _ in range(2):
            conn.request("GET", "/identity/v3")
            response = conn.getresponse()
            assert response.status == 200
            response.read()
            assert response.getheader("connection", "").lower() != "close"
            time.sleep(PAUSE)
        sock = conn.sock
        conn.request("GET", "/compute/v2.1/")
        response = conn.getresponse()
        assert response.status == 200
        response.read()
        assert conn.sock is sock  # the same connection, not a reconnect
    finally:
        conn.close()
