"""Swift's symlink middleware: an object made with X-Symlink-Target (and optionally
X-Symlink-Target-Account) points at another object; reads follow it (up to SYMLOOP_MAX
links), ``?symlink=get`` shows the link itself, X-Symlink-Target-Etag makes a static link
whose target must keep that ETag."""

from __future__ import annotations

from urllib.parse import quote, unquote

from onestack.api.common.request import ApiRequest
from onestack.api.object_store.common import store
from onestack.core.object_store.acl import Caller
from onestack.core.object_store.base import check_name
from onestack.core.object_store.objects import ObjectView
from onestack.errors import BadRequest, Conflict, NotFound, PreconditionFailed

SYMLOOP_MAX = 2
TARGET, ACCOUNT = "x-symlink-target", "x-symlink-target-account"
ETAG, BYTES = "x-symlink-target-etag", "x-symlink-target-bytes"
SYMLINK_KEYS = (TARGET, ACCOUNT, ETAG, BYTES)
CONTENT_TYPE = "application/symlink"


def is_link(view: ObjectView) -> bool:
    return bool(view.row.headers.get(TARGET))


def target_of(view: ObjectView) -> tuple[str, str, str]:
    h = view.row.headers
    container, _, obj = str(h[TARGET]).partition("/")
    return str(h.get(ACCOUNT) or view.account), container, obj


def location(account: str, container: str, obj: str) -> str:
    return quote(f"/v1/{account}/{container}/{obj}")


def _split_target(value: str) -> tuple[str, str]:
    container, sep, obj = unquote(value).lstrip("/").partition("/")
    if not sep or not container or not obj:
        raise PreconditionFailed("X-Symlink-Target header must be of the form "
                                 "<container name>/<object name>")
    check_name(container, "container")
    check_name(obj, "object")
    return container, obj


async def link_headers(req: ApiRequest, who: Caller, account: str, length: int | None
                       ) -> dict[str, str] | None:
    """The internal headers of a new link from a PUT's X-Symlink-Target*, checked; None
    when the PUT makes no link."""
    value = req.header("x-symlink-target")
    if value is None:
        for name in ("x-symlink-target-account", "x-symlink-target-etag"):
            if req.header(name) is not None:
                raise BadRequest(f"{name.title()} header requires X-Symlink-Target.")
        return None
    if length != 0:
        raise BadRequest("Symlink requests require a zero byte body")
    if req.header("x-copy-from") or req.query.get("multipart-manifest") == "put" \
            or req.header("x-object-manifest"):
        raise BadRequest("Symlink requests cannot also copy or make a large object.")
    container, obj = _split_target(value)
    target_account = unquote(req.header("x-symlink-target-account") or account)
    if not target_account or "/" in target_account:
        raise PreconditionFailed("Account name cannot contain slashes")
    out = {TARGET: f"{container}/{obj}", ACCOUNT: target_account}
    etag = req.header("x-symlink-target-etag")
    if etag is not None:
        want = etag.strip('"')
        try:
            target = await store(req).objects.open(who, target_account, container, obj)
        except NotFound as exc:
            raise Conflict(f"X-Symlink-Target-Etag headers do not match: {container}/{obj} "
                           "does not exist.") from exc
        if target.etag.strip('"') != want:
            raise Conflict(f"Object Etag {target.etag.strip(chr(34))!r} does not match "
                           f"X-Symlink-Target-Etag header {want!r}")
        out.update({ETAG: want, BYTES: str(target.size)})
    return out


async def follow(req: ApiRequest, who: Caller, view: ObjectView) -> tuple[ObjectView, str]:
    """The object a link leads to (links of links too), and its path for Content-Location;
    404 when the chain ends nowhere, 409 past SYMLOOP_MAX links or on a static link whose
    target changed."""
    path, hops = "", 0
    while is_link(view):
        if hops == SYMLOOP_MAX:
            raise Conflict("Too many levels of symbolic links, maximum allowed is "
                           f"{SYMLOOP_MAX}")
        want = view.row.headers.get(ETAG)
        account, container, obj = target_of(view)
        view = await store(req).objects.open(who, account, container, obj)
        path, hops = location(account, container, obj), hops + 1
        if want and view.etag.strip('"') != want:
            raise Conflict(f"Object Etag {view.etag.strip(chr(34))!r} does not match "
                           f"X-Symlink-Target-Etag header {want!r}")
    return view, path


async def copy_source(req: ApiRequest, who: Caller, src: tuple[str, str, str]
                      ) -> tuple[str, str, str]:
    """A copy of a link copies what it leads to (``?symlink=get``: the link itself)."""
    if req.query.get("symlink") == "get":
        return src
    view = await store(req).objects.open(who, *src)
    if not is_link(view):
        return src
    final, _ = await follow(req, who, view)
    return final.account, final.container.name, final.row.name


async def copied_link(req: ApiRequest, who: Caller, src: tuple[str, str, str]
                      ) -> dict[str, str] | None:
    """With ``?symlink=get``, a copy of a link is a link: its internal headers; else None."""
    if req.query.get("symlink") != "get":
        return None
    view = await store(req).objects.open(who, *src)
    if not is_link(view):
        return None
    return {k: str(v) for k, v in view.row.headers.items() if k in SYMLINK_KEYS}
