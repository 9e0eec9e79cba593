"""Temporary URLs: an HMAC of method, expiry and path with an account or container key.

Keys: X-Account-Meta-Temp-URL-Key(-2) and X-Container-Meta-Temp-URL-Key(-2). Signatures:
hex sha1/sha256/sha512, or ``<digest>:<base64url>``. The signed path is the request's
path, with or without the service prefix (``/v1/AUTH_x/c/o``); ``temp_url_prefix``
signs ``prefix:<path up to the prefix>``. A HEAD is allowed by a GET, HEAD or PUT signature.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass

from onestack.core.object_store.acl import TempUrlScope
from onestack.core.object_store.containers import Containers

DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
_BY_HEX_LENGTH = {40: "sha1", 64: "sha256", 128: "sha512"}
METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE")


@dataclass(frozen=True)
class TempUrlQuery:
    sig: str
    expires: int
    prefix: str | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> TempUrlQuery | None:
        """None when the query has no (well-formed) temp URL parameters."""
        sig, expires = query.get("temp_url_sig"), query.get("temp_url_expires")
        if not sig or not expires:
            return None
        try:
            when = int(expires)
        except ValueError:
            try:
                when = calendar.timegm(time.strptime(expires, "%Y-%m-%dT%H:%M:%SZ"))
            except ValueError:
                return None
        return cls(sig, when, query.get("temp_url_prefix"))


def _signature(sig: str) -> tuple[str, bytes] | None:
    if ":" in sig:
        name, _, b64 = sig.partition(":")
        if name not in DIGESTS:
            return None
        try:
            raw = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
        except (binascii.Error, ValueError):
            return None
        return name, raw
    hexname = _BY_HEX_LENGTH.get(len(sig))
    if hexname is None:
        return None
    try:
        return hexname, bytes.fromhex(sig)
    except ValueError:
        return None


def sign(key: str, method: str, expires: int, path: str, digest: str = "sha256") -> str:
    body = f"{method}\n{expires}\n{path}"
    return hmac.new(key.encode(), body.encode(), DIGESTS[digest]).hexdigest()


class TempUrls:
    def __init__(self, containers: Containers) -> None:
        self.containers = containers

    async def scoped_keys(self, account: str, container: str
                          ) -> list[tuple[str, TempUrlScope]]:
        """The keys that sign for this path, each with what it reaches: an account key
        the whole account, a container key only its container (Swift's scopes)."""
        acct = await self.containers.account(account)
        whole = TempUrlScope(account)
        keys = [(acct.meta.get("temp-url-key"), whole), (acct.meta.get("temp-url-key-2"), whole)]
        row = await self.containers.get(account, container)
        if row is not None:
            one = TempUrlScope(account, container)
            keys += [(row.meta.get("temp-url-key"), one), (row.meta.get("temp-url-key-2"), one)]
        return [(k, scope) for k, scope in keys if k]

    async def keys(self, account: str, container: str) -> list[str]:
        return [k for k, _ in await self.scoped_keys(account, container)]

    async def allows(self, query: TempUrlQuery, method: str, account: str, container: str,
                     obj: str, paths: list[str]) -> TempUrlScope | None:
        """What the temp URL lets this request reach; None when it is not valid for it.
        ``paths``: the request path as the client may have signed it (with and without the
        service prefix)."""
        if query.expires < time.time():
            return None
        parsed = _signature(query.sig)
        if parsed is None:
            return None
        digest, wanted = parsed
        if query.prefix is not None:
            if not obj.startswith(query.prefix):
                return None
            signed = []
            for path in paths:
                cut = len(path) - len(obj)
                signed.append("prefix:" + path[:cut] + query.prefix)
        else:
            signed = paths
        methods = [method] + (["GET", "PUT"] if method == "HEAD" else [])
        for key, scope in await self.scoped_keys(account, container):
            for path in signed:
                for m in methods:
                    body = f"{m}\n{query.expires}\n{path}"
                    mac = hmac.new(key.encode(), body.encode(), DIGESTS[digest]).digest()
                    if hmac.compare_digest(mac, wanted):
                        return scope
        return None
