"""Microversions (Nova, Cinder, Placement): negotiate, remember on the request, echo back.

A service declares its name in the header (``compute``, ``volume``, ``placement``), its
legacy header if any, and its min/max. Handlers and views branch with ``req_version(req) >=
(2, 26)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from onestack.api.common.request import ApiRequest
from onestack.errors import BadRequest, OnestackError

Version = tuple[int, int]


class NotAcceptable(OnestackError):
    status = 406
    title = "Not Acceptable"
    nova_fault = "notAcceptable"


def parse(text: str) -> Version:
    try:
        major, minor = text.strip().split(".")
        return int(major), int(minor)
    except ValueError as exc:
        raise BadRequest(f"Invalid microversion {text!r}: expected MAJOR.MINOR, e.g. 2.1."
                         ) from exc


def fmt(v: Version) -> str:
    return f"{v[0]}.{v[1]}"


@dataclass(frozen=True)
class Microversions:
    service: str  # the name in OpenStack-API-Version: "<service> X.Y"
    minimum: Version
    maximum: Version
    legacy_header: str | None = None  # e.g. X-OpenStack-Nova-API-Version
    default: Version | None = None  # when the client asks for none (minimum if unset)
    # Paths (relative to the service prefix) that carry no microversion: version documents.
    unversioned: tuple[str, ...] = ("/", "")

    def requested(self, req: ApiRequest) -> str | None:
        header = req.header("openstack-api-version")
        if header:
            for part in header.split(","):
                words = part.strip().split()
                if len(words) == 2 and words[0].lower() == self.service:
                    return words[1]
        if self.legacy_header:
            return req.header(self.legacy_header)
        return None

    def negotiate(self, req: ApiRequest) -> None:
        if req.path.rstrip("/") in self.unversioned:
            return
        asked = self.requested(req)
        if asked is None:
            version = self.default or self.minimum
        elif asked.strip().lower() == "latest":
            version = self.maximum
        else:
            version = parse(asked)
            if not self.minimum <= version <= self.maximum:
                raise NotAcceptable(
                    f"Version {fmt(version)} is not supported by the API. Minimum is "
                    f"{fmt(self.minimum)} and maximum is {fmt(self.maximum)}.")
        req.state["microversion"] = version

    def headers(self, req: ApiRequest) -> dict[str, str]:
        version = req.state.get("microversion")
        if version is None:
            return {}
        out = {"OpenStack-API-Version": f"{self.service} {fmt(version)}",
               "Vary": "OpenStack-API-Version"}
        if self.legacy_header:
            out[self.legacy_header] = fmt(version)
            out["Vary"] += f", {self.legacy_header}"
        return out


def req_version(req: ApiRequest) -> Version:
    version: Version = req.state.get("microversion", (0, 0))
    return version


def hooks(mv: Microversions) -> tuple[Callable[[ApiRequest], None],
                                       Callable[[ApiRequest], dict[str, str]]]:
    """(prepare, response_headers) for a ServiceApi."""
    return mv.negotiate, mv.headers
