"""The certificate references of a TERMINATED_HTTPS listener, checked with the caller's
authority before the listener is written, as Octavia's API reads them with the user's
token: every container and secret a reference reads must be one the caller may read by
the key manager's own policy (its project, or an ACL naming the user), and must hold a
usable certificate. Anything else is Octavia's 400 ``Could not retrieve certificate:
[<refs>]``; the reason is logged, never a payload."""

from __future__ import annotations

import logging
from typing import Any

from onestack.api.common.request import ApiRequest
from onestack.api.key_manager.common import shared_target
from onestack.core.load_balancer import tls
from onestack.errors import OnestackError

log = logging.getLogger(__name__)
RULES = {"secret": "secret:decrypt", "container": "container:get"}


def source(req: ApiRequest) -> tls.CertificateSource:
    return tls.CertificateSource(req.runtime.key_manager)


async def _readable(req: ApiRequest, src: tls.CertificateSource, ref: str) -> bool:
    km = src.key_manager
    try:
        for kind, ident in await src.parts(ref):
            view = await (km.secret(ident) if kind == "secret" else km.container(ident))
            target = shared_target(req, kind, view.row.project_id, view.row.creator_id,
                                   view.acl.project_access, view.acl.users)
            if not req.runtime.policy.authorize(RULES[kind], req.ctx, target):
                log.info("certificate %s: the caller may not read %s %s", ref, kind, ident)
                return False
    except (tls.Unreadable, OnestackError) as exc:
        # a key manager fault (a master key that does not open, say) is the operator's
        server_side = isinstance(exc, OnestackError) and exc.status >= 500
        log.log(logging.WARNING if server_side else logging.INFO, "certificate %s: %s",
                ref, exc)
        return False
    return True


async def _usable(req: ApiRequest, src: tls.CertificateSource, ref: str) -> bool:
    if not await _readable(req, src, ref):
        return False
    try:
        await src.certificate(ref)
    except tls.Unreadable as exc:
        log.info("certificate %s: %s", ref, exc)
        return False
    return True


async def check(req: ApiRequest, data: dict[str, Any], protocol: str | None) -> None:
    """The references ``data`` (a listener's create or update body) names, when the
    listener is TERMINATED_HTTPS (on other listeners the core refuses them)."""
    if protocol != "TERMINATED_HTTPS":
        return
    src = source(req)
    refs = list(data.get("sni_container_refs") or [])
    if data.get("default_tls_container_ref"):
        refs.append(data["default_tls_container_ref"])
    bad = [ref for ref in refs if not await _usable(req, src, ref)]
    if bad:
        raise tls.retrieval_failed(bad)
    ca = data.get("client_ca_tls_container_ref")
    if ca:
        if not await _readable(req, src, ca):
            raise tls.retrieval_failed([ca])
        try:
            await src.ca_bundle(ca)
        except tls.Unreadable as exc:
            log.info("client CA %s: %s", ca, exc)
            raise tls.invalid_ca() from None


async def check_graph(req: ApiRequest, graph: dict[str, Any]) -> None:
    """Every listener of a fully populated load balancer create."""
    for lis in graph.get("listeners") or []:
        await check(req, lis, lis.get("protocol"))
