"""TERMINATED_HTTPS in the haproxy driver's pure parts: the bind options, the crt-list and
PEM files (private, named by a digest of their content), refusals, and haproxy itself
serving them: a local haproxy (no namespace, no root) picks the certificate by SNI."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import stat
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from onestack.drivers.lb import haproxy_config, tls_files
from onestack.drivers.lb.base import LbError, ListenerSpec, LoadBalancerSpec, TlsSpec
from onestack.drivers.lb.haproxy import prune, write_private
from tests.support import certs
from tests.unit.drivers.test_lb_haproxy_config import full_spec, section

CA = certs.authority()
ONE = certs.server(CA, "www.example.test")
TWO = certs.server(CA, "api.example.test", "alt.example.test")
CLIENT_CA = certs.authority("Client CA")


def pem(issued: certs.Issued) -> bytes:
    return issued.cert_pem + issued.key_pem


def tls_spec(**changes: Any) -> TlsSpec:
    base = TlsSpec(certificates=(pem(ONE), pem(TWO)), versions=("TLSv1.2", "TLSv1.3"),
                   ciphers="ECDHE-ECDSA-AES128-GCM-SHA256:TLS_AES_128_GCM_SHA256",
                   alpn=("h2", "http/1.1"))
    return replace(base, **changes)


def listener(**changes: Any) -> ListenerSpec:
    lis = ListenerSpec(id="lis-tls", protocol="TERMINATED_HTTPS", protocol_port=8443,
                       default_pool_id="pool-web", insert_headers=(("X-Forwarded-Proto",
                                                                    "true"),),
                       tls=tls_spec())
    return replace(lis, **changes)


def spec_with(lis: ListenerSpec) -> LoadBalancerSpec:
    spec = full_spec()
    return replace(spec, listeners=(*spec.listeners, lis))


def test_bind_line_files_and_no_key_in_repr(tmp_path: Path) -> None:
    spec = spec_with(listener())
    d = str(tmp_path / "tls")
    text = haproxy_config.render(spec, "/run/x.sock", tls_dir=d)
    fe = section(text, "frontend listener_lis-tls")
    files = tls_files.files(spec, d)
    crt_list = next(n for n in files if n.endswith(".crtlist"))
    assert fe[0] == "mode http"
    assert fe[1] == (f"bind 10.0.0.5:8443 ssl crt-list {d}/{crt_list} ssl-min-ver TLSv1.2 "
                     "ssl-max-ver TLSv1.3 ciphers ECDHE-ECDSA-AES128-GCM-SHA256:"
                     "TLS_AES_128_GCM_SHA256 alpn h2,http/1.1")
    assert "http-request set-header X-Forwarded-Proto https" in fe
    # the default certificate first, then the SNI ones
    pems = [n for n in files if n.endswith(".pem")]
    assert files[crt_list].decode().splitlines() == [f"{d}/{n}" for n in sorted(pems)]
    assert files[sorted(pems)[0]] == pem(ONE)
    assert b"PRIVATE KEY" not in repr(spec).encode()
    # new certificates: new names (a new haproxy.cfg, so a reload)
    other = spec_with(listener(tls=tls_spec(certificates=(pem(TWO),))))
    assert set(tls_files.files(other, d)).isdisjoint(files)


def test_client_authentication(tmp_path: Path) -> None:
    d = str(tmp_path)
    lis = listener(tls=tls_spec(client_ca=CLIENT_CA.cert_pem,
                                client_authentication="MANDATORY"))
    bind = tls_files.bind_options(lis, d)
    files = tls_files.files(spec_with(lis), d)
    ca = next(n for n in files if "-ca-" in n)
    assert f" ca-file {d}/{ca} verify required" in bind and files[ca] == CLIENT_CA.cert_pem
    optional = listener(tls=tls_spec(client_ca=CLIENT_CA.cert_pem,
                                     client_authentication="OPTIONAL"))
    assert "verify optional" in tls_files.bind_options(optional, d)


@pytest.mark.parametrize("bad", [
    listener(tls=None), listener(tls=tls_spec(certificates=())),
    listener(tls=tls_spec(ciphers="ALL crt /etc/shadow")),
    listener(tls=tls_spec(versions=("TLSv9",))), listener(tls=tls_spec(alpn=("spdy",))),
    listener(tls=tls_spec(client_authentication="SOMETIMES")),
    listener(tls=tls_spec(certificates=(b"not a pem",))),
    listener(protocol="HTTP"),  # TLS settings on a listener that does not terminate
])
def test_refusals(bad: ListenerSpec) -> None:
    with pytest.raises(LbError):
        spec = spec_with(bad)
        tls_files.files(spec, "/var/lib/x/tls")
        haproxy_config.render(spec, "/run/x.sock", tls_dir="/var/lib/x/tls")


def test_tls_dir_must_be_a_plain_path() -> None:
    with pytest.raises(LbError):
        tls_files.bind_options(listener(), "/var/lib/x y/tls")


def test_private_files_and_prune(tmp_path: Path) -> None:
    d = tmp_path / "tls"
    write_private(d, {"a.pem": b"A", "b.crtlist": b"B"})
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in d.iterdir()} == {
        "a.pem": 0o600, "b.crtlist": 0o600}
    write_private(d, {"c.pem": b"C"})
    prune(d, {"c.pem": b"C"})
    assert sorted(p.name for p in d.iterdir()) == ["c.pem"]
    prune(d, {})
    assert not d.exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _served(port: int, sni: str | None) -> x509.Certificate:
    ctx = ssl.create_default_context(cadata=CA.cert_pem.decode())
    ctx.check_hostname = False
    deadline = time.monotonic() + 5
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as raw, \
                    ctx.wrap_socket(raw, server_hostname=sni) as conn:
                der = conn.getpeercert(binary_form=True)
                assert der is not None
                return x509.load_der_x509_certificate(der)
        except (ConnectionRefusedError, ssl.SSLError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_haproxy_serves_the_certificate_the_sni_names(tmp_path: Path) -> None:
    port = _free_port()
    d = tmp_path / "tls"
    lis = listener(protocol_port=port, default_pool_id=None, insert_headers=())
    spec = spec_with(lis)
    files = tls_files.files(spec, str(d))
    write_private(d, files)
    text = haproxy_config.render(spec, str(tmp_path / "s.sock"), maxconn=100,
                                 tls_dir=str(d))
    # only this listener, on loopback (the VIP is not this host's address)
    text = text.split("frontend ")[0] + "frontend " + next(
        part for part in text.split("frontend ") if part.startswith("listener_lis-tls"))
    text = text.replace("bind 10.0.0.5:", "bind 127.0.0.1:")
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text)
    check = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True,
                           check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "WARNING" not in check.stdout + check.stderr, check.stdout + check.stderr
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        names = {sni: _served(port, sni).subject.rfc4514_string()
                 for sni in ("www.example.test", "api.example.test", "alt.example.test",
                             "unknown.example.test", None)}
    finally:
        proc.terminate()
        proc.wait(5)
    assert names == {"www.example.test": "CN=www.example.test",
                     "api.example.test": "CN=api.example.test",
                     "alt.example.test": "CN=api.example.test",
                     "unknown.example.test": "CN=www.example.test",  # the default
                     None: "CN=www.example.test"}
    assert os.stat(d / next(iter(files))).st_mode & 0o077 == 0
