"""FormPost: a POST of multipart/form-data to a container (or an object prefix) stores the
form's files, signed by a temp-URL key instead of a token."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.object_store.common import account_of, body_stream, store
from onestack.core.object_store.formpost import FormInvalid, FormUnauthorized

TEXT = "text/plain; charset=utf-8"


def boundary_of(req: ApiRequest) -> str | None:
    """The form's boundary when the request is a form upload; None otherwise."""
    kind, _, rest = (req.header("content-type") or "").partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    for item in rest.split(";"):
        key, sep, value = item.strip().partition("=")
        if sep and key.strip().lower() == "boundary":
            return value.strip().strip('"') or None
    return None


async def formpost(req: ApiRequest, container: str, prefix: str, boundary: str) -> Response:
    full = req.service.prefix + req.path
    paths = [full, req.path] if full != req.path else [full]
    try:
        result = await store(req).formpost.post(account_of(req), container, prefix, boundary,
                                                body_stream(req), paths)
    except FormUnauthorized as exc:
        return Response(f"FormPost: {exc.message.title()}", status_code=401, media_type=TEXT)
    except FormInvalid as exc:
        return Response(f"FormPost: {exc.message}", status_code=400, media_type=TEXT)
    status = f"{result.status} {result.reason}"
    if not result.redirect:
        body = status + (f"\r\nFormPost: {result.message.title()}" if result.message else "")
        return Response(body, status_code=result.status, media_type=TEXT)
    location = result.redirect + ("&" if "?" in result.redirect else "?")
    location += f"status={result.status}&message={quote(result.message)}"
    return Response(f'<html><body><p><a href="{location}">Click to continue...</a></p>'
                    "</body></html>", status_code=303, headers={"Location": location},
                    media_type="text/html; charset=UTF-8")
