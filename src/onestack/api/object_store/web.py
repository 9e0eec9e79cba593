"""Swift's staticweb and crossdomain middlewares.

staticweb: for anonymous reads (or X-Web-Mode: true), a container with
X-Container-Meta-Web-Index serves that object for the container and its pseudo-directories,
Web-Listings an HTML listing (styled by Web-Listings-CSS), and Web-Error the object
``<status><Web-Error>`` (e.g. 404error.html) on a 404. The container's read ACL still
decides (.r:* for the objects, .rlistings for the listings).
crossdomain: /crossdomain.xml, the Flash/Silverlight cross-domain policy (Swift's default).
"""

from __future__ import annotations

import datetime as dt
from html import escape
from urllib.parse import quote

from starlette.responses import RedirectResponse, Response

from onestack.api.common.request import ApiRequest
from onestack.api.object_store import containers, objects
from onestack.api.object_store.common import account_of, caller, store, swift, truthy
from onestack.core.object_store.listing import ListParams
from onestack.db.models import SwiftContainer

CROSS_DOMAIN_POLICY = '<allow-access-from domain="*" secure="false" />'
DOCTYPE = ('<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" '
           '"http://www.w3.org/TR/html4/loose.dtd">')
DEFAULT_CSS = ("   <style type=\"text/css\">\n    h1 {font-size: 1em; font-weight: bold;}\n"
               "    th {text-align: left; padding: 0px 1em 0px 1em;}\n"
               "    td {padding: 0px 1em 0px 1em;}\n    a {text-decoration: none;}\n"
               "   </style>\n")


@swift
async def crossdomain(req: ApiRequest) -> Response:
    body = ('<?xml version="1.0"?>\n<!DOCTYPE cross-domain-policy SYSTEM '
            '"http://www.adobe.com/xml/dtds/cross-domain-policy.dtd" >\n'
            f"<cross-domain-policy>\n{CROSS_DOMAIN_POLICY}\n</cross-domain-policy>")
    return Response(body, media_type="application/xml; charset=utf-8")


def _web_mode(req: ApiRequest) -> bool:
    return not req.ctx.authenticated or truthy(req.header("x-web-mode"))


async def _web_container(req: ApiRequest) -> SwiftContainer | None:
    """The container when staticweb answers this request, else None."""
    if req.method not in ("GET", "HEAD") or not _web_mode(req):
        return None
    c = await store(req).containers.get(account_of(req), req.params["container"])
    if c is None or not any(c.meta.get(k) for k in ("web-index", "web-listings",
                                                    "web-error")):
        return None
    return c


def _listing_html(req: ApiRequest, c: SwiftContainer, prefix: str, items: list[object]
                  ) -> str:
    path = escape(f"/v1/{account_of(req)}/{c.name}/{prefix}")
    css = c.meta.get("web-listings-css")
    if css:
        href = css if "://" in css or css.startswith("/") else "../" * prefix.count("/") + css
        style = f'  <link rel="stylesheet" type="text/css" href="{escape(href)}" />\n'
    else:
        style = DEFAULT_CSS
    rows = []
    if prefix:
        rows.append('   <tr id="parent" class="item">\n    <td class="colname"><a '
                    'href="../">../</a></td>\n    <td class="colsize">&nbsp;</td>\n'
                    '    <td class="coldate">&nbsp;</td>\n   </tr>')
    for item in items:
        if isinstance(item, str):
            name, size, date, kind = item, "&nbsp;", "&nbsp;", "subdir"
        else:
            name = str(getattr(item, "name", ""))
            size = str(getattr(item, "size", 0))
            ts = getattr(item, "timestamp", None)
            date = (dt.datetime.fromtimestamp(float(ts), dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
                    if isinstance(ts, int | float) else "&nbsp;")
            kind = "item"
        short = name[len(prefix):]
        rows.append(f'   <tr class="item {kind}">\n    <td class="colname"><a '
                    f'href="{quote(short)}">{escape(short)}</a></td>\n'
                    f'    <td class="colsize">{size}</td>\n'
                    f'    <td class="coldate">{date}</td>\n   </tr>')
    return (f"{DOCTYPE}\n<html>\n <head>\n  <title>Listing of {path}</title>\n{style}"
            f" </head>\n <body>\n  <h1 id=\"title\">Listing of {path}</h1>\n"
            '  <table id="listing">\n   <tr id="heading">\n    <th class="colname">Name</th>\n'
            '    <th class="colsize">Size</th>\n    <th class="coldate">Date</th>\n'
            "   </tr>\n" + "\n".join(rows) + "\n  </table>\n </body>\n</html>\n")


async def _object(req: ApiRequest, name: str) -> Response:
    req.params["object"] = name
    return await objects.get_object(req)


async def _error_page(req: ApiRequest, c: SwiftContainer, response: Response) -> Response:
    """A 4xx answered with the container's <status><web-error> object, if it has one."""
    page = c.meta.get("web-error")
    if not page or response.status_code not in (401, 404):
        return response
    shown = await _object(req, f"{response.status_code}{page}")
    if shown.status_code != 200:
        return response
    shown.status_code = response.status_code
    return shown


async def _directory(req: ApiRequest, c: SwiftContainer, prefix: str) -> Response:
    index = c.meta.get("web-index")
    if index:
        found = await _object(req, prefix + index)
        if found.status_code != 404:
            return found
    if not truthy(c.meta.get("web-listings")):
        return await _error_page(req, c, Response(status_code=404))
    _, items = await store(req).containers.list_objects(
        caller(req), account_of(req), c.name, ListParams(prefix=prefix, delimiter="/"))
    if prefix and not items:
        return await _error_page(req, c, Response(status_code=404))
    return Response(_listing_html(req, c, prefix, list(items)),
                    media_type="text/html; charset=UTF-8")


@swift
async def get_container(req: ApiRequest) -> Response:
    c = await _web_container(req)
    if c is None or "format" in req.query:
        return await containers.list_objects(req)
    if not req.path.endswith("/"):  # Swift: a directory's URL ends with a slash
        return RedirectResponse(req.service.prefix + quote(req.path) + "/", status_code=301)
    return await _directory(req, c, "")


@swift
async def get_object(req: ApiRequest) -> Response:
    name = req.params["object"]
    response = await objects.get_object(req)
    if response.status_code not in (401, 404):
        return response
    c = await _web_container(req)
    if c is None:
        return response
    if name.endswith("/"):
        return await _directory(req, c, name)
    return await _error_page(req, c, response)
