"""The ASGI application: every service mounted at its prefix, one middleware chain.

Request id, token validation, routing, policy and fault rendering happen here, once, for
every service; handlers only parse, call the core and render.
"""

from __future__ import annotations

import json
import logging
import platform
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from sqlalchemy.exc import DataError
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from onestack.agent.compute import ComputeAgent, make_driver
from onestack.agent.guest_disks import CephClient
from onestack.agent.link import LocalLink
from onestack.agent.load_balancer import LoadBalancerAgent, make_lb_driver
from onestack.agent.network_setup import make_network_agent
from onestack.api.common.auth import authenticate_request, enforce_access_rules
from onestack.api.common.policy import Enforcer, Rule
from onestack.api.common.request import ApiRequest
from onestack.api.common.routing import Route, ServiceApi
from onestack.api.console_proxy import PREFIX as CONSOLE_PREFIX
from onestack.api.console_proxy import ConsoleProxy
from onestack.config import Settings
from onestack.context import RequestContext
from onestack.core.compute.metadata import MetadataService
from onestack.core.compute.service import Compute
from onestack.core.compute.volumes import ServerVolumes
from onestack.core.events.bus import request_id_var
from onestack.core.identity.bootstrap import ServiceEntry
from onestack.core.identity.service import Identity
from onestack.core.image.service import ImageService
from onestack.core.key_manager.service import build as build_key_manager
from onestack.core.load_balancer.flavors import FlavorCatalog
from onestack.core.load_balancer.service import LoadBalancerService
from onestack.core.load_balancer.tls import CertificateSource
from onestack.core.network.service import NetworkService
from onestack.core.object_store.service import ObjectStore
from onestack.core.operations.service import Operations
from onestack.core.volume.backups import Backups as VolumeBackups
from onestack.core.volume.service import VolumeService
from onestack.dashboard import PREFIX, build_dashboard
from onestack.db.engine import Database
from onestack.drivers.devices import make_discovery
from onestack.drivers.virt import VirtDriver
from onestack.errors import (
    BadRequest,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    OnestackError,
    Unauthorized,
)
from onestack.scheduler.service import Placement

log = logging.getLogger("onestack.api")
access_log = logging.getLogger("onestack.access")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class Runtime:
    """Everything a request may need, built once per process (no globals)."""

    def __init__(self, settings: Settings, db: Database | None = None,
                 virt_driver: VirtDriver | None = None) -> None:
        self.settings = settings
        self.db = db or Database(settings.database_url, echo=settings.database.echo,
                                 pool_size=settings.database.pool_size)
        self.identity = Identity(settings, self.db)
        self.placement = Placement(self.db)
        self.object_store = ObjectStore(settings, self.db)
        self.image = ImageService(settings, self.db)  # images under data_dir/images
        self.network = NetworkService(self.db)
        self.compute = Compute(settings, self.db, self.placement, self.image, self.network)
        self.compute_metadata = MetadataService(self.db, self.compute.ports.network_data)
        driver = virt_driver or make_driver(settings.compute.virt_driver,
                                            settings.instances_path)
        self.agent_link = LocalLink(self.compute, self.image, self.compute_metadata)
        self.compute_agent = ComputeAgent(
            self.agent_link, driver, settings.instances_path,
            settings.compute.reconcile_interval,
            force_config_drive=settings.compute.force_config_drive,
            image_cache_ttl=settings.compute.image_cache_ttl,
            devices=make_discovery(settings.compute.device_discovery, driver.name),
            address=settings.network.tunnel_ip or "127.0.0.1",
            ceph=CephClient.from_config(settings.compute))
        self.network_agent = make_network_agent(
            settings, self.db, self.network, lambda: self.compute_agent.host,
            metadata=self.compute_metadata)
        self.volume = VolumeService(settings, self.db, self.image)
        self.compute.volumes = ServerVolumes(self.db, self.compute.links, self.volume)
        self.volume.worker.attached_extender = self.compute.volumes.extend_attached
        self.volume_backups = VolumeBackups(self.volume, self.object_store)
        self.services: list[ServiceApi] = []
        self.policy: Enforcer = Enforcer([])
        self.startup: list[Callable[[], Awaitable[None]]] = [self.image.start, self.volume.start,
                                                             self.volume_backups.settle]
        self.shutdown: list[Callable[[], Awaitable[None]]] = [self.volume.stop]
        missing = driver.unavailable()
        if missing and settings.compute.local_agent:
            log.warning("compute agent not started: %s", missing)
        elif settings.compute.local_agent:  # else: compute hosts run `onestack agent`
            self.startup.insert(0, self.compute_agent.start)
            self.shutdown.insert(0, self.compute_agent.stop)
        self.compute_agent.network = self.network_agent  # NICs on its taps
        if self.network_agent is not None:
            self.startup.append(self.network_agent.start)
            self.shutdown.append(self.network_agent.stop)
        self.load_balancer = LoadBalancerService(self.db, self.network.changed, FlavorCatalog(
            self.db, lambda: self.compute_agent.host or platform.node()))
        self.load_balancer_agent = LoadBalancerAgent(
            self.db, self.load_balancer, make_lb_driver(settings),
            settings.load_balancer.reconcile_interval, settings.network.external_bridge,
            settings.network.external_physnet)
        self.startup.append(self.load_balancer_agent.start)
        self.shutdown.insert(0, self.load_balancer_agent.stop)
        self.key_manager = build_key_manager(settings, self.db)
        self.volume.keys.manager = self.key_manager  # encrypted volumes' keys
        self.load_balancer_agent.certificates = CertificateSource(self.key_manager)
        self.operations = Operations(settings, self.db)  # /metrics and the audit trail
        self.compute.links.connect(self.operations.events)  # wakes across API processes
        self.identity.coherence.connect(self.operations.events)  # token and role caches
        self.startup.append(self.operations.start)
        self.shutdown.append(self.operations.stop)

    def catalog_entries(self) -> list[ServiceEntry]:
        from onestack.api import registry

        return registry.catalog_entries(self.settings.server.base_url())


def _check_nul(params: dict[str, str], http: Request) -> None:
    """NUL can be in no identifier or filter (and PostgreSQL cannot store it)."""
    if any("\x00" in v for v in params.values()):
        raise NotFound("The resource could not be found: the path holds a NUL character.")
    if "\x00" in str(http.url.query) or "%00" in str(http.url.query):
        raise BadRequest("Query parameters must not contain NUL characters.")


def default_target(params: dict[str, str]) -> dict[str, Any]:
    """Path params, also as target.<kind>.id (project_id -> target.project.id)."""
    target: dict[str, Any] = dict(params)
    for key, value in params.items():
        if key.endswith("_id"):
            target[f"target.{key[:-3]}.id"] = value
    return target


class OnestackApp:
    def __init__(self, runtime: Runtime, services: list[ServiceApi], rules: list[Rule]) -> None:
        self.runtime = runtime
        runtime.services = services
        runtime.policy = Enforcer(rules, runtime.settings.identity.policy_file or None)
        self.services = sorted(services, key=lambda s: len(s.prefix), reverse=True)
        self.access = runtime.settings.server.access_log
        self.dashboard = build_dashboard(self, self.can)  # a client of the APIs above
        self.consoles = ConsoleProxy(runtime)  # websockets to guests' consoles

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["path"] == CONSOLE_PREFIX or scope["path"].startswith(CONSOLE_PREFIX + "/"):
            await self.consoles(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"] == PREFIX or scope["path"].startswith(PREFIX + "/"):
            await self.dashboard(scope, receive, send)
            return
        started = time.perf_counter()
        http = Request(scope, receive)
        headers = http.headers
        ctx = RequestContext(request_id=f"req-{uuid.uuid4()}",
                             global_request_id=headers.get("x-openstack-request-id"))
        request_id_var.set(ctx.request_id)  # carried by the events its commits publish
        path: str = scope["path"]
        service = self._service_for(path)
        if service is None:
            response = self._root(path, headers.get("accept", ""))
        else:
            response = await self._dispatch(http, ctx, service, path[len(service.prefix):])
            self.runtime.operations.observe(ctx, service.name, scope["method"],
                                            scope.get("onestack.route", (None, {})),
                                            response.status_code, time.perf_counter() - started)
        response.headers["x-openstack-request-id"] = ctx.request_id
        await response(scope, receive, send)
        if self.access:
            access_log.info('%s "%s %s" %d %.1fms %s', scope.get("client", ("-",))[0],
                            scope["method"], path, response.status_code,
                            (time.perf_counter() - started) * 1000, ctx.request_id)

    async def can(self, token: str, rules: list[str], target: dict[str, Any]
                  ) -> dict[str, bool]:
        """The dashboard's question to the live policy: which of ``rules`` would the API
        allow this token on ``target``? (The API still enforces every request.)"""
        ctx = RequestContext(request_id=f"req-{uuid.uuid4()}")
        if not await authenticate_request(self.runtime.identity, token, ctx):
            return dict.fromkeys(rules, False)
        out = {}
        for rule in rules:
            try:
                out[rule] = self.runtime.policy.authorize(rule, ctx, target)
            except OnestackError:
                out[rule] = False
        return out

    def _service_for(self, path: str) -> ServiceApi | None:
        for service in self.services:
            if path == service.prefix or path.startswith(service.prefix + "/"):
                return service
        return None

    def _root(self, path: str, accept: str = "") -> Response:
        if path in ("", "/") and accept.startswith("text/html"):  # a browser
            return RedirectResponse(PREFIX + "/", status_code=303)
        if path in ("", "/"):
            base = self.runtime.settings.server.base_url()
            return JSONResponse({"services": [
                {"name": s.name, "url": base + s.prefix} for s in self.runtime.services
                if s.name != "internal"]})
        return JSONResponse({"error": {"code": 404, "title": "Not Found",
                                       "message": f"No service is served at {path}."}},
                            status_code=404)

    async def _dispatch(self, http: Request, ctx: RequestContext, service: ServiceApi,
                        sub: str) -> Response:
        route, params, known = service.match(http.method, sub or "/")
        http.scope["onestack.route"] = (route.path if route else None, params)  # for metrics
        req = ApiRequest(http, self.runtime, ctx, service, route, params, sub)
        try:
            if route is None:
                if known:
                    raise MethodNotAllowed(f"The method {http.method} is not supported for "
                                           f"{service.prefix}{sub}.")
                raise NotFound(f"The resource could not be found: {service.prefix}{sub}.")
            _check_nul(params, http)
            if service.prepare is not None:
                service.prepare(req)
            token = http.headers.get("x-auth-token")
            if token:
                ok = await authenticate_request(self.runtime.identity, token, ctx)
                if not ok and route.auth:
                    raise Unauthorized("The request you have made requires authentication.")
            elif route.auth:
                raise Unauthorized("The request you have made requires authentication.")
            enforce_access_rules(ctx, service.name, http.method, sub or "/", route.auth)
            if route.rule is not None:
                self.runtime.policy.enforce_scope(route.rule, ctx)  # before any lookup
                target = (await route.target(req) if route.target is not None
                          else default_target(params))
                self.runtime.policy.enforce(route.rule, ctx, target)
            response = await route.handler(req)
        except OnestackError as exc:
            response = self._fault(service, exc, req)
        except DataError as exc:
            log.warning("database refused a value in %s %s%s: %s", http.method,
                        service.prefix, sub, exc.orig)
            response = self._fault(service, BadRequest(
                "The request holds a value the database cannot store (e.g. a NUL character "
                "or a number out of range)."), req)
        except Exception:
            log.exception("unexpected error in %s %s%s", http.method, service.prefix, sub)
            response = self._fault(service, OnestackError(
                "An unexpected error prevented the server from fulfilling your request."), req)
        if service.response_headers is not None:
            response.headers.update(service.response_headers(req))
        return response

    def _fault(self, service: ServiceApi, exc: OnestackError, req: ApiRequest) -> Response:
        if isinstance(exc, Forbidden | Unauthorized) or exc.status >= 500:
            log.info("%s %s: %d %s", req.method, req.path, exc.status, exc.message)
        body, headers = service.render_fault(exc, req)
        return Response(json.dumps(body), status_code=exc.status, headers=headers,
                        media_type="application/json")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    for hook in self.runtime.startup:
                        await hook()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for hook in self.runtime.shutdown:
                    try:
                        await hook()
                    except Exception:
                        log.exception("shutdown hook failed")
                await self.runtime.db.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def build_app(settings: Settings, runtime: Runtime | None = None) -> OnestackApp:
    from onestack.api import registry

    runtime = runtime or Runtime(settings)
    return OnestackApp(runtime, registry.services(), registry.policy_rules())


__all__ = ["OnestackApp", "Route", "Runtime", "build_app"]
