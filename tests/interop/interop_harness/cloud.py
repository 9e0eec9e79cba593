"""Talking to the running cloud: admin token, catalog, and the resources tempest needs."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from .tempest_conf import CloudFacts

Log = Callable[[str], None]


class HttpError(Exception):
    """A request got an error status, or no answer."""

    def __init__(self, method: str, url: str, status: int | None, body: str) -> None:
        super().__init__(f"{method} {url} -> {status}: {body[:500]}")
        self.status = status
        self.body = body


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


def request(
    method: str,
    url: str,
    *,
    token: str | None = None,
    body: object | None = None,
    data: IO[bytes] | bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Response:
    """One HTTP request; HttpError on a status >= 400 or a connection failure."""
    all_headers = {"Accept": "application/json", **(headers or {})}
    payload: IO[bytes] | bytes | None = data
    if body is not None:
        payload = json.dumps(body).encode("utf-8")
        all_headers["Content-Type"] = "application/json"
    if token:
        all_headers["X-Auth-Token"] = token
    req = urllib.request.Request(url, data=payload, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Response(resp.status, dict(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as err:
        text = err.read().decode("utf-8", "replace")
        raise HttpError(method, url, err.code, text) from err
    except (urllib.error.URLError, OSError) as err:
        raise HttpError(method, url, None, str(err)) from err


def status_of(url: str, timeout: float = 5.0) -> int | None:
    """The HTTP status of a GET, or None when nothing answers."""
    try:
        return request("GET", url, timeout=timeout).status
    except HttpError as err:
        return err.status


@dataclass
class Token:
    token: str
    catalog: list[dict[str, Any]]

    def endpoint(self, service_type: str, interface: str = "public") -> str | None:
        for service in self.catalog:
            if service.get("type") != service_type:
                continue
            endpoints = service.get("endpoints") or []
            for endpoint in endpoints:
                if endpoint.get("interface") == interface:
                    return str(endpoint["url"]).rstrip("/")
            if endpoints:
                return str(endpoints[0]["url"]).rstrip("/")
        return None

    def region(self) -> str | None:
        for service in self.catalog:
            for endpoint in service.get("endpoints") or []:
                region = endpoint.get("region_id") or endpoint.get("region")
                if region:
                    return str(region)
        return None

    def types(self) -> set[str]:
        return {str(service.get("type")) for service in self.catalog}


def _domain(auth: dict[str, Any], prefix: str) -> dict[str, str]:
    if auth.get(f"{prefix}_domain_id"):
        return {"id": str(auth[f"{prefix}_domain_id"])}
    if auth.get(f"{prefix}_domain_name"):
        return {"name": str(auth[f"{prefix}_domain_name"])}
    if auth.get("domain_id"):
        return {"id": str(auth["domain_id"])}
    return {"name": str(auth.get("domain_name") or "Default")}


def get_token(identity_url: str, auth: dict[str, Any]) -> Token:
    """A project-scoped token for the clouds.yaml ``auth`` block (password auth)."""
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": auth["username"],
                        "domain": _domain(auth, "user"),
                        "password": auth["password"],
                    }
                },
            },
            "scope": {
                "project": {
                    "name": auth["project_name"],
                    "domain": _domain(auth, "project"),
                }
            },
        }
    }
    resp = request("POST", f"{identity_url}/auth/tokens", body=body)
    token = resp.headers.get("X-Subject-Token") or resp.headers.get("x-subject-token")
    if not token:
        raise HttpError("POST", f"{identity_url}/auth/tokens", resp.status, "no X-Subject-Token")
    catalog = (resp.json() or {}).get("token", {}).get("catalog") or []
    return Token(token, list(catalog))


def versioned(url: str, version: str) -> str:
    """The endpoint URL with the API version in it (catalog URLs may be versionless)."""
    if re.search(rf"/{re.escape(version)}(/|$)", url):
        return url
    return f"{url}/{version}"


def _image_active(image: dict[str, Any]) -> bool:
    return image.get("status") == "active"


def seed(facts: CloudFacts, token: Token, log: Log) -> None:
    """Fill facts with two images, two flavors and the external network, where served."""
    image_url = token.endpoint("image") or f"{facts.base_url}/image"
    compute_url = token.endpoint("compute") or f"{facts.base_url}/compute/v2.1"
    network_url = token.endpoint("network") or f"{facts.base_url}/networking"
    types = token.types()
    if "image" in types:
        _seed_images(facts, versioned(image_url, "v2"), token.token, log)
    if "compute" in types:
        _seed_flavors(facts, versioned(compute_url, "v2.1"), token.token, log)
    if "network" in types:
        _seed_network(facts, versioned(network_url, "v2.0"), token.token, log)


def _seed_images(facts: CloudFacts, url: str, token: str, log: Log) -> None:
    try:
        images = [i for i in request("GET", f"{url}/images", token=token).json()["images"]]
    except (HttpError, KeyError, TypeError, ValueError) as err:
        log(f"warning: cannot list images: {err}")
        return
    active = sorted((i for i in images if _image_active(i)), key=lambda i: str(i.get("name")))
    if len(active) == 1:
        try:
            active.append(_copy_image(url, token, active[0], log))
        except (HttpError, KeyError, TypeError, ValueError, OSError) as err:
            log(f"warning: cannot make a second image: {err}")
    if active:
        facts.image_ref = str(active[0]["id"])
        facts.image_ref_alt = str(active[-1]["id"])
    log(f"images: image_ref={facts.image_ref} image_ref_alt={facts.image_ref_alt}")


def _copy_image(url: str, token: str, image: dict[str, Any], log: Log) -> dict[str, Any]:
    """Upload a second image with the first one's bytes (tempest wants two)."""
    name = f"interop-alt-{image.get('name') or image['id']}"
    log(f"only one image: uploading a copy of {image['id']} as {name!r}")
    created = request(
        "POST",
        f"{url}/images",
        token=token,
        body={
            "name": name,
            "disk_format": image.get("disk_format") or "raw",
            "container_format": image.get("container_format") or "bare",
            "visibility": "public",
        },
    ).json()
    with tempfile.TemporaryFile() as buf:
        src = urllib.request.Request(
            f"{url}/images/{image['id']}/file", headers={"X-Auth-Token": token}
        )
        with urllib.request.urlopen(src, timeout=300) as resp:
            shutil.copyfileobj(resp, buf)
        size = buf.tell()
        buf.seek(0)
        request(
            "PUT",
            f"{url}/images/{created['id']}/file",
            token=token,
            data=buf,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(size),
            },
            timeout=300,
        )
    deadline = time.monotonic() + 120
    while True:
        current: dict[str, Any] = request(
            "GET", f"{url}/images/{created['id']}", token=token
        ).json()
        if _image_active(current):
            return current
        if time.monotonic() > deadline or current.get("status") in ("killed", "deleted"):
            raise ValueError(f"image {created['id']} is {current.get('status')}")
        time.sleep(1)


def _flavor_key(flavor: dict[str, Any]) -> tuple[int, int, int, str]:
    return (
        int(flavor.get("ram") or 0),
        int(flavor.get("disk") or 0),
        int(flavor.get("vcpus") or 0),
        str(flavor.get("id")),
    )


def _seed_flavors(facts: CloudFacts, url: str, token: str, log: Log) -> None:
    try:
        flavors = list(request("GET", f"{url}/flavors/detail", token=token).json()["flavors"])
    except (HttpError, KeyError, TypeError, ValueError) as err:
        log(f"warning: cannot list flavors: {err}")
        return
    flavors.sort(key=_flavor_key)
    if len(flavors) == 1:
        base = flavors[0]
        log(f"only one flavor: creating interop.alt beside {base['id']}")
        try:
            created = request(
                "POST",
                f"{url}/flavors",
                token=token,
                body={
                    "flavor": {
                        "name": "interop.alt",
                        "ram": int(base.get("ram") or 64) + 64,
                        "vcpus": int(base.get("vcpus") or 1),
                        "disk": int(base.get("disk") or 0),
                    }
                },
            ).json()["flavor"]
            flavors.append(created)
        except (HttpError, KeyError, TypeError, ValueError) as err:
            log(f"warning: cannot create a second flavor: {err}")
    if flavors:
        facts.flavor_ref = str(flavors[0]["id"])
        facts.flavor_ref_alt = str(flavors[1 if len(flavors) > 1 else 0]["id"])
    log(f"flavors: flavor_ref={facts.flavor_ref} flavor_ref_alt={facts.flavor_ref_alt}")


def _seed_network(facts: CloudFacts, url: str, token: str, log: Log) -> None:
    query = urllib.parse.urlencode({"router:external": "True"})
    try:
        networks = list(request("GET", f"{url}/networks?{query}", token=token).json()["networks"])
    except (HttpError, KeyError, TypeError, ValueError) as err:
        log(f"warning: cannot list networks: {err}")
        return
    external = [n for n in networks if n.get("router:external", True)]
    if not external:
        try:
            external = [_make_public_network(url, token, log)]
        except (HttpError, KeyError, TypeError, ValueError) as err:
            log(f"warning: cannot create an external network: {err}")
    if external:
        facts.public_network_id = str(external[0]["id"])
        facts.public_network_name = str(external[0].get("name") or "") or None
    log(f"external network: {facts.public_network_id or 'none'}")


def _make_public_network(url: str, token: str, log: Log) -> dict[str, Any]:
    """Tempest's floating-IP and router tests need an external network to point at."""
    log("no external network: creating 'public' (flat, 172.24.4.0/24)")
    net = request("POST", f"{url}/networks", token=token, body={"network": {
        "name": "public", "router:external": True, "provider:network_type": "flat",
        "provider:physical_network": "public"}}).json()["network"]
    request("POST", f"{url}/subnets", token=token, body={"subnet": {
        "network_id": net["id"], "cidr": "172.24.4.0/24", "ip_version": 4,
        "name": "public-subnet"}})
    return dict(net)
