"""The dashboard's only way to the cloud: the public OpenStack APIs, in process.

An httpx client over an ASGI transport to the same application (no network hop, no port),
sending the user's own token, so the dashboard can do nothing the API would refuse and
shows the API's own error messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

BASE = "http://onestack.dashboard"


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def fault_message(response: httpx.Response) -> str:
    """The message of any service's fault body (Nova, Cinder, Keystone, Neutron...)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, dict) and "message" in value:
                return str(value["message"])
        if "message" in body:
            return str(body["message"])
    return response.reason_phrase


@dataclass
class Streamed:
    """A response whose body is read as it comes (nothing buffered whole)."""

    status: int
    headers: dict[str, str]
    body: AsyncIterator[bytes]

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.body])


class CloudClient:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE,
                                      timeout=60)

    async def call(self, method: str, path: str, token: str | None = None,
                   json: Any = None, headers: dict[str, str] | None = None,
                   ok: tuple[int, ...] = ()) -> httpx.Response:
        sent = dict(headers or {})
        if token:
            sent["X-Auth-Token"] = token
        response = await self.http.request(method, path, json=json, headers=sent)
        if response.status_code >= 400 and response.status_code not in ok:
            raise ApiError(response.status_code, fault_message(response))
        return response

    async def stream(self, method: str, path: str, token: str,
                     headers: dict[str, str] | None = None,
                     body: AsyncIterator[bytes] | None = None) -> Streamed:
        """Call the API app as ASGI with the request body fed from ``body`` chunk by chunk
        and the response body handed on chunk by chunk (httpx's ASGI transport keeps whole
        responses in memory: no good for multi-GB images and objects). An API error
        raises ApiError with its message."""
        url = urlsplit(path)
        sent = {**(headers or {}), "x-auth-token": token}
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": method, "scheme": "http", "path": unquote(url.path),
                 "raw_path": url.path.encode(), "query_string": url.query.encode(),
                 "root_path": "", "client": ("127.0.0.1", 0),
                 "server": ("onestack.dashboard", 80),
                 "headers": [(k.lower().encode(), v.encode()) for k, v in sent.items()]}
        chunks = body.__aiter__() if body is not None else None
        done = asyncio.Event()
        out: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=8)

        async def receive() -> dict[str, Any]:
            nonlocal chunks
            if chunks is not None:
                try:
                    return {"type": "http.request", "body": await chunks.__anext__(),
                            "more_body": True}
                except StopAsyncIteration:
                    chunks = None
                    return {"type": "http.request", "body": b"", "more_body": False}
            if body is None and not done.is_set():
                done.set()
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # no disconnect while the caller reads
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            await out.put(message)

        async def run() -> None:
            try:
                await self.app(scope, receive, send)
            finally:
                await out.put({"type": "end"})

        task = asyncio.create_task(run())
        start = await out.get()
        if start["type"] != "http.response.start":
            await task  # raised before answering: let it surface
            raise ApiError(500, "The API gave no response.")
        status = int(start["status"])
        got = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}

        async def chunks_of() -> AsyncIterator[bytes]:
            try:
                while True:
                    message = await out.get()
                    if message["type"] != "http.response.body":
                        return
                    if message.get("body"):
                        yield message["body"]
                    if not message.get("more_body"):
                        return
            finally:
                if not task.done():
                    task.cancel()

        streamed = Streamed(status, got, chunks_of())
        if status >= 400:
            text = await streamed.read()
            raise ApiError(status, fault_message(httpx.Response(status, content=text,
                                                                headers=got)))
        return streamed

    async def get(self, path: str, token: str, **kw: Any) -> Any:
        response = await self.call("GET", path, token, **kw)
        return response.json() if response.content else {}

    async def post(self, path: str, token: str, body: Any, **kw: Any) -> Any:
        response = await self.call("POST", path, token, json=body, **kw)
        return response.json() if response.content else {}

    async def delete(self, path: str, token: str, **kw: Any) -> None:
        await self.call("DELETE", path, token, **kw)

    # --- identity ------------------------------------------------------------------------
    async def password_token(self, user: str, password: str, domain: str
                             ) -> tuple[str, dict[str, Any]]:
        body = {"auth": {"identity": {"methods": ["password"], "password": {
            "user": {"name": user, "password": password, "domain": {"name": domain}}}}}}
        response = await self.call("POST", "/identity/v3/auth/tokens", json=body)
        return response.headers["X-Subject-Token"], response.json()["token"]

    async def application_credential_token(self, credential_id: str, secret: str
                                           ) -> tuple[str, dict[str, Any]]:
        body = {"auth": {"identity": {"methods": ["application_credential"],
                                      "application_credential": {"id": credential_id,
                                                                 "secret": secret}}}}
        response = await self.call("POST", "/identity/v3/auth/tokens", json=body)
        return response.headers["X-Subject-Token"], response.json()["token"]

    async def rescope(self, token: str, project_id: str) -> tuple[str, dict[str, Any]]:
        body = {"auth": {"identity": {"methods": ["token"], "token": {"id": token}},
                         "scope": {"project": {"id": project_id}}}}
        response = await self.call("POST", "/identity/v3/auth/tokens", json=body)
        return response.headers["X-Subject-Token"], response.json()["token"]

    async def projects(self, token: str) -> list[dict[str, Any]]:
        return list((await self.get("/identity/v3/auth/projects", token))["projects"])

    async def revoke(self, token: str) -> None:
        await self.call("DELETE", "/identity/v3/auth/tokens", token,
                        headers={"X-Subject-Token": token}, ok=(401, 403, 404))


def regions(token_body: dict[str, Any]) -> list[str]:
    """The regions the token's service catalog names (shown in the dashboard's header)."""
    found = {str(e.get("region_id") or e.get("region") or "")
             for service in token_body.get("catalog") or []
             for e in service.get("endpoints") or []}
    return sorted(r for r in found if r)
