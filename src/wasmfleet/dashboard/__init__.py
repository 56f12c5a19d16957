"""The web dashboard: static pages the orchestrator serves at ``/ui/`` (docs/dashboard.md).

The pages carry no data: every figure comes from ``/api/v1`` with the user's own token, so
``/ui/*`` is open in core/rbac.py. Assets are plain ES modules and CSS under ``static/``
(no build step, no CDN); ``/ui/rbac.json`` is the route table the shell uses to hide what
the signed-in role may not do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from wasmfleet.core import rbac
from wasmfleet.service.http import JSONResponse

STATIC = Path(__file__).resolve().parent / "static"
PREFIX = "/ui"
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".md": "text/markdown; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",
}
REVALIDATE = "no-cache"
"""Our own files change with the package: the browser asks again (an ETag makes it cheap)."""
VENDORED = "public, max-age=86400"
"""Vendored libraries change only with their version."""


class DashboardFiles(StaticFiles):
    """Static files with explicit content types and cache headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The file, or the API's 404 shape with a sentence."""
        try:
            response = await super().get_response(path, scope)
        except HTTPException as err:
            if err.status_code != 404:
                raise
            return JSONResponse(
                {
                    "error": {
                        "status": 404,
                        "code": "not_found",
                        "message": f"The dashboard has no file {path!r}.",
                    }
                },
                status_code=404,
            )
        suffix = Path(path).suffix
        if suffix in CONTENT_TYPES:
            response.headers["content-type"] = CONTENT_TYPES[suffix]
        vendored = path.replace("\\", "/").startswith("vendor/")
        response.headers["cache-control"] = VENDORED if vendored else REVALIDATE
        response.headers["x-content-type-options"] = "nosniff"
        return response


def access_table(auth: bool = True) -> dict[str, Any]:
    """core/rbac.py as JSON: roles per access level, every route's level, whether auth is on."""
    return {
        "auth": "on" if auth else "off",
        "levels": {
            level.value: sorted(r.value for r in roles) for level, roles in rbac.LEVELS.items()
        },
        "rules": [[r.method, r.path, r.access.value] for r in rbac.RULES],
    }


def dashboard_router(*, auth: bool = True) -> APIRouter:
    """``/ui`` (redirect), ``/ui/`` (the shell page) and ``/ui/rbac.json`` (``auth``: whether
    this orchestrator checks tokens, so the shell knows to ask for one)."""
    router = APIRouter(include_in_schema=False)

    @router.get(PREFIX)
    def to_slash() -> Response:
        return RedirectResponse(PREFIX + "/", status_code=307)

    @router.get(PREFIX + "/")
    def shell() -> Response:
        page = Response((STATIC / "index.html").read_text("utf-8"), media_type="text/html")
        page.headers["cache-control"] = REVALIDATE
        # the page loads only what this orchestrator serves (offline, no CDN)
        page.headers["content-security-policy"] = (
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
            "style-src 'self' 'unsafe-inline'; script-src 'self' 'wasm-unsafe-eval'; "
            "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
        )
        return page

    @router.get(PREFIX + "/rbac.json")
    def access() -> Response:
        return JSONResponse(access_table(auth), headers={"cache-control": REVALIDATE})

    return router


def static_files() -> DashboardFiles:
    """The ASGI app serving ``static/`` (mounted at ``/ui/static``)."""
    return DashboardFiles(directory=STATIC, follow_symlink=False)
