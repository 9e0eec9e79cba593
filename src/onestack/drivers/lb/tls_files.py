"""The files of TERMINATED_HTTPS listeners and their ``bind`` options: pure functions.

Per listener, in the load balancer's ``tls`` directory (mode 0700, files 0600, written by
the driver): one PEM bundle per certificate (certificate, intermediates, key), a crt-list
naming them with the default certificate first (haproxy serves the first one when the
client's SNI matches no certificate's names, and picks by name otherwise), and the client
CA when client authentication is on. Every name carries a digest of the listener's TLS
material, so new certificates are a new haproxy.cfg (a reload, without dropping
connections) and the old files can go once it runs.
"""

from __future__ import annotations

import hashlib
import re

from onestack.drivers.lb import names
from onestack.drivers.lb.base import LbError, ListenerSpec, LoadBalancerSpec

DIR_RE = re.compile(r"/[A-Za-z0-9_./-]{0,1000}")  # no space, quote or '#' in a tls_dir
CIPHERS_RE = re.compile(r"[A-Za-z0-9_:+!@=,.-]{1,2048}")
# Octavia's TLS versions -> haproxy's ssl-min-ver/ssl-max-ver words, oldest first
VERSIONS = {"SSLv3": "SSLv3", "TLSv1": "TLSv1.0", "TLSv1.1": "TLSv1.1", "TLSv1.2": "TLSv1.2",
            "TLSv1.3": "TLSv1.3"}
VERIFY = {"OPTIONAL": "optional", "MANDATORY": "required"}
ALPN = ("h2", "http/1.1", "http/1.0")


def _digest(lis: ListenerSpec) -> str:
    assert lis.tls is not None
    h = hashlib.sha256()
    for pem in (*lis.tls.certificates, lis.tls.client_ca or b""):
        h.update(len(pem).to_bytes(8, "big") + pem)
    return h.hexdigest()[:16]


def _names(lis: ListenerSpec) -> tuple[list[str], str, str]:
    """(certificate files, crt-list file, client CA file) of a listener."""
    if lis.tls is None or not lis.tls.certificates:
        raise LbError(f"TERMINATED_HTTPS listener {lis.id} has no certificate")
    ident, digest = names.check_id(lis.id, "listener"), _digest(lis)
    certs = [f"{ident}-{n}-{digest}.pem" for n in range(len(lis.tls.certificates))]
    return certs, f"{ident}-{digest}.crtlist", f"{ident}-ca-{digest}.pem"


def _dir(tls_dir: str) -> str:
    if not DIR_RE.fullmatch(tls_dir):
        raise LbError(f"TLS directory {tls_dir!r} must be an absolute path of letters, "
                      "digits, '_', '.', '-' and '/'")
    return tls_dir.rstrip("/")


def files(spec: LoadBalancerSpec, tls_dir: str) -> dict[str, bytes]:
    """File name (in ``tls_dir``) -> content, for every TERMINATED_HTTPS listener."""
    d = _dir(tls_dir)
    out: dict[str, bytes] = {}
    for lis in spec.listeners:
        if lis.protocol != "TERMINATED_HTTPS":
            continue
        certs, crt_list, ca = _names(lis)
        assert lis.tls is not None
        for name, pem in zip(certs, lis.tls.certificates, strict=True):
            if not isinstance(pem, bytes) or b"-----BEGIN" not in pem or b"\0" in pem:
                raise LbError(f"listener {lis.id}: a certificate is not a PEM bundle")
            out[name] = pem
        out[crt_list] = "".join(f"{d}/{name}\n" for name in certs).encode()
        if lis.tls.client_ca and lis.tls.client_authentication in VERIFY:
            out[ca] = lis.tls.client_ca
    return out


def bind_options(lis: ListenerSpec, tls_dir: str) -> str:
    """What follows ``bind <vip>:<port>`` on a TERMINATED_HTTPS listener."""
    d = _dir(tls_dir)
    _certs, crt_list, ca = _names(lis)
    assert lis.tls is not None
    tls = lis.tls
    out = f" ssl crt-list {d}/{crt_list}"
    if tls.client_authentication in VERIFY and tls.client_ca:
        out += f" ca-file {d}/{ca} verify {VERIFY[tls.client_authentication]}"
    elif tls.client_authentication not in ("NONE", *VERIFY):
        raise LbError(f"client_authentication {tls.client_authentication!r} is not one of "
                      "NONE, OPTIONAL, MANDATORY")
    if tls.versions:
        unknown = [v for v in tls.versions if v not in VERSIONS]
        if unknown:
            raise LbError(f"TLS versions {unknown!r} are not among {', '.join(VERSIONS)}")
        order = list(VERSIONS)
        wanted = sorted(tls.versions, key=order.index)
        out += f" ssl-min-ver {VERSIONS[wanted[0]]} ssl-max-ver {VERSIONS[wanted[-1]]}"
    if tls.ciphers:
        if not CIPHERS_RE.fullmatch(tls.ciphers):
            raise LbError(f"tls_ciphers {tls.ciphers!r} is not an OpenSSL cipher string")
        out += f" ciphers {tls.ciphers}"
    if tls.alpn:
        unknown = [p for p in tls.alpn if p not in ALPN]
        if unknown:
            raise LbError(f"ALPN protocols {unknown!r} are not among {', '.join(ALPN)}")
        out += f" alpn {','.join(tls.alpn)}"
    return out
