from __future__ import annotations

from pathlib import Path

import pytest

from onestack.api.common.faults import keystone_fault
from onestack.api.common.routing import Route, ServiceApi
from onestack.config import load_settings
from onestack.errors import ConfigError


def test_defaults_and_overrides(tmp_path: Path) -> None:
    s = load_settings(None, data_dir=tmp_path, port=6000)
    assert s.server.port == 6000
    assert s.database_url == f"sqlite:///{tmp_path}/onestack.db"
    assert s.server.base_url() == "http://127.0.0.1:6000"


def test_toml_file_and_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[identity]\nlockout_failure_attempts = 3\n[server]\nhost = "0.0.0.0"\n')
    s = load_settings(cfg)
    assert s.identity.lockout_failure_attempts == 3
    assert s.server.base_url() == "http://127.0.0.1:5000"
    cfg.write_text("[identity]\nno_such_thing = 1\n")
    with pytest.raises(ConfigError, match="no_such_thing"):
        load_settings(cfg)
    cfg.write_text('[identity]\ntoken_expiration = "soon"\n')
    with pytest.raises(ConfigError, match="number"):
        load_settings(cfg)
    cfg.write_text("not = [toml")
    with pytest.raises(ConfigError, match="TOML"):
        load_settings(cfg)


def test_tls_and_agent_settings(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[server]\ntls_cert = "/etc/c.pem"\ntls_key = "/etc/k.pem"\n'
                   "[compute]\nservice_down_after = 30\nlocal_agent = false\n")
    s = load_settings(cfg)
    assert s.server.base_url() == "https://127.0.0.1:5000"
    assert s.compute.service_down_after == 30 and s.compute.local_agent is False
    assert load_settings(None).compute.service_down_after == 60


async def _h(_req: object) -> object:
    return None


def test_route_matching() -> None:
    svc = ServiceApi("t", "/t", [
        Route("GET", "/v3/things", _h),  # type: ignore[arg-type]
        Route("GET", "/v3/things/{thing_id}", _h),  # type: ignore[arg-type]
        Route("DELETE", "/v3/things/{thing_id}", _h),  # type: ignore[arg-type]
    ], keystone_fault)
    route, params, _ = svc.match("GET", "/v3/things/abc/")
    assert route is not None and params == {"thing_id": "abc"}
    route, _, known = svc.match("PUT", "/v3/things/abc")
    assert route is None and known  # 405
    route, _, known = svc.match("GET", "/v3/nothing")
    assert route is None and not known  # 404
    route, _, _ = svc.match("HEAD", "/v3/things")
    assert route is not None and route.method == "GET"


def test_path_params_take_slashes() -> None:
    svc = ServiceApi("o", "/o", [
        Route("GET", "/v1/{account}/{container}/{obj:path}", _h),  # type: ignore[arg-type]
    ], keystone_fault)
    route, params, _ = svc.match("GET", "/v1/AUTH_x/c/a/b/c.txt")
    assert route is not None
    assert params == {"account": "AUTH_x", "container": "c", "obj": "a/b/c.txt"}
