"""Run a real Onestack (uvicorn, the full app) in a background thread for API tests."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from onestack.api import registry
from onestack.api.app import Runtime, build_app
from onestack.cli.clouds import write_clouds
from onestack.config import Settings, load_settings
from onestack.core.identity.bootstrap import Account, bootstrap
from onestack.db import migrate
from onestack.drivers.virt.fake import FakeVirtDriver
from tests.support.postgres import free_port

TEST_IDENTITY = {
    "password_hash_rounds": 4,
    "lockout_failure_attempts": 3,
    "lockout_duration": 2,
    "unique_last_password_count": 2,
    "minimum_password_age": 0,
    "cache_sync_interval": 0.2,
}


@dataclass
class RunningCloud:
    settings: Settings
    base_url: str
    accounts: dict[str, Account]
    clouds_yaml: Path
    runtime: Runtime

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/identity/v3"

    def admin_token(self) -> str:
        return self.token("admin")

    def token(self, who: str) -> str:
        acct = self.accounts[who]
        return password_token(self.auth_url, acct.username, acct.password, acct.project)


def password_token(auth_url: str, username: str, password: str,
                   project: str | None = None, domain: str = "Default") -> str:
    body: dict[str, Any] = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": username, "password": password, "domain": {"name": domain}}}}}}
    if project:
        body["auth"]["scope"] = {"project": {"name": project, "domain": {"name": domain}}}
    r = httpx.post(f"{auth_url}/auth/tokens", json=body)
    r.raise_for_status()
    return r.headers["X-Subject-Token"]


class CloudThread:
    def __init__(self, database_url: str | None = None, *, data_dir: Path | None = None,
                 port: int | None = None, **identity: Any) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="onestack-test-")
        data_dir = data_dir or Path(self.tmp.name)
        self.port = port or free_port()
        self.settings = load_settings(None, data_dir=data_dir, host="127.0.0.1",
                                      port=self.port, database_url=database_url)
        for key, value in {**TEST_IDENTITY, **identity}.items():
            setattr(self.settings.identity, key, value)
        self.settings.server.access_log = False
        self.settings.compute.virt_driver = "fake"
        self.settings.compute.reconcile_interval = 0.5
        self.settings.network.dataplane = "off"
        self.virt_driver: Any = None  # reuse a driver object across restarts (adoption)
        self.listen = "127.0.0.1"  # what uvicorn binds (remote agents need more)
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.cloud: RunningCloud | None = None

    def start(self) -> RunningCloud:
        migrate.upgrade(self.settings.database_url)
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._ready.is_set():
            if self._error is not None:
                raise RuntimeError("onestack failed to start") from self._error
            if time.monotonic() > deadline:
                raise RuntimeError("onestack did not start in 60 s")
            time.sleep(0.05)
        assert self.cloud is not None
        return self.cloud

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced to start()
            self._error = exc

    async def _serve(self) -> None:
        if self.virt_driver is None:
            # A small host, so placement tests that look for large free capacity find only
            # their own providers.
            self.virt_driver = FakeVirtDriver(hostname="compute-test", vcpus=8,
                                              memory_mb=16384, disk_gb=200)
        runtime = Runtime(self.settings, virt_driver=self.virt_driver)
        app = build_app(self.settings, runtime)
        accounts = await bootstrap(runtime.identity, runtime.catalog_entries())
        await registry.bootstrap(runtime)
        clouds = Path(self.tmp.name) / "clouds.yaml"
        base = self.settings.server.base_url()
        write_clouds(clouds, f"{base}/identity/v3", accounts)
        self.cloud = RunningCloud(self.settings, base, accounts, clouds, runtime)
        config = uvicorn.Config(app, host=self.listen, port=self.port, loop="none",
                                lifespan="on", log_config=None, access_log=False,
                                timeout_keep_alive=int(
                                    self.settings.server.keep_alive_timeout))
        self._server = uvicorn.Server(config)
        serve = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if serve.done():
                await serve
                return
            await asyncio.sleep(0.02)
        self._ready.set()
        await serve

    def stop(self, *, cleanup: bool = True) -> None:
        """Stop serving; ``cleanup=False`` keeps the data dir (to start again on it)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        if cleanup:
            self.tmp.cleanup()
