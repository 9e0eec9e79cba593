"""Upstream Swift 2.38.3 as a one-node cluster: proxy, account, container and object servers
on loopback, each swift's own eventlet server with 2 workers, one replica, tempauth, and a
memcached of its own (see shared/upstream-anchors.md)."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path

from lib.procs import BenchError, Services, free_port, run_logged
from lib.rawhttp import call
from lib.upstream import VENV, ensure_memcached, ensure_venv, start_memcached, venv_env

# python-keystoneclient: the swift CLI authenticates against Keystone v3 (Onestack) with it.
REQUIREMENTS = ["swift==2.38.3", "python-swiftclient", "python-keystoneclient"]
PIPELINE = ("catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk "
            "tempurl tempauth copy slo dlo proxy-logging proxy-server")
FILTERS = ("catch_errors", "gatekeeper", "healthcheck", "proxy_logging", "listing_formats",
           "bulk", "tempurl", "copy", "slo", "dlo")


@dataclass(frozen=True)
class SwiftTarget:
    name: str
    port: int
    account_path: str  # /v1/AUTH_test
    token: str
    names: tuple[str, ...]  # its processes in Services


def _server_conf(etc: Path, devices: Path, port: int, kind: str) -> str:
    return (f"[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = {port}\nworkers = 2\n"
            f"user = {getpass.getuser()}\ndevices = {devices}\nmount_check = false\n"
            f"swift_dir = {etc}\n"
            f"log_level = WARNING\n\n[pipeline:main]\npipeline = {kind}-server\n\n"
            f"[app:{kind}-server]\nuse = egg:swift#{kind}\n")


def _proxy_conf(etc: Path, port: int, memcached: int) -> str:
    filters = "".join(f"[filter:{f.replace('_', '-') if f == 'proxy_logging' else f}]\n"
                      f"use = egg:swift#{f}\n\n" for f in FILTERS)
    return (f"[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = {port}\nworkers = 2\n"
            f"user = {getpass.getuser()}\nswift_dir = {etc}\nlog_level = WARNING\n\n"
            f"[pipeline:main]\n"
            f"pipeline = {PIPELINE}\n\n[app:proxy-server]\nuse = egg:swift#proxy\n"
            f"account_autocreate = true\n\n[filter:tempauth]\nuse = egg:swift#tempauth\n"
            f"user_test_tester = testing .admin\n\n[filter:cache]\nuse = egg:swift#memcache\n"
            f"memcache_servers = 127.0.0.1:{memcached}\n\n" + filters)


def start(services: Services, workdir: Path, timeout: float = 120) -> SwiftTarget:
    log = services.log("swift-setup")
    venv = ensure_venv(REQUIREMENTS, log)
    env = venv_env(venv)
    bin_ = venv / "bin"
    etc, devices = workdir / "swift-etc", workdir / "swift-srv"
    (devices / "d1").mkdir(parents=True, exist_ok=True)
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "swift.conf").write_text(
        "[swift-hash]\nswift_hash_path_suffix = onestackbench\nswift_hash_path_prefix = up\n\n"
        "[storage-policy:0]\nname = Policy-0\ndefault = yes\n")
    ports = {kind: free_port() for kind in ("account", "container", "object", "proxy")}
    for kind in ("account", "container", "object"):
        builder = str(etc / f"{kind}.builder")
        run_logged([str(bin_ / "swift-ring-builder"), builder, "create", "10", "1", "1"], log,
                   env)
        run_logged([str(bin_ / "swift-ring-builder"), builder, "add",
                    f"r1z1-127.0.0.1:{ports[kind]}/d1", "100"], log, env)
        run_logged([str(bin_ / "swift-ring-builder"), builder, "rebalance"], log, env)
        conf = etc / f"{kind}-server.conf"
        conf.write_text(_server_conf(etc, devices, ports[kind], kind))
        services.start(f"swift-{kind}", [str(bin_ / f"swift-{kind}-server"), str(conf)], env)
    memcached = free_port()
    start_memcached(services, ensure_memcached(log), memcached, "swift-memcached")
    proxy_conf = etc / "proxy-server.conf"
    proxy_conf.write_text(_proxy_conf(etc, ports["proxy"], memcached))
    services.start("swift-proxy", [str(bin_ / "swift-proxy-server"), str(proxy_conf)], env)
    startup = services.wait_http_ok("127.0.0.1", ports["proxy"], "/healthcheck", timeout)
    print(f"swift: ready in {startup:.1f} s (port {ports['proxy']})")
    r = call("127.0.0.1", ports["proxy"], "GET", "/auth/v1.0",
             {"X-Auth-User": "test:tester", "X-Auth-Key": "testing"})
    if r.status != 200 or "x-auth-token" not in r.headers:
        raise BenchError(f"swift tempauth answered {r.status}: {r.body[:300]!r}")
    path = "/" + r.headers["x-storage-url"].split("/", 3)[3]
    names = ("swift-account", "swift-container", "swift-object", "swift-memcached",
             "swift-proxy")
    return SwiftTarget("swift", ports["proxy"], path, r.headers["x-auth-token"], names)


__all__ = ["VENV", "SwiftTarget", "start"]
