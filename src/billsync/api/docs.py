"""/docs (Swagger UI) and /redoc, working without internet.

Their scripts and styles come from the `fastapi-offline` package, which ships Swagger UI and
ReDoc (mounted at /static-offline-docs); billsync serves the two pages itself so it can
forbid images from other hosts (ReDoc's sidebar footer would fetch Redocly's logo from a
CDN) and turn off Swagger UI's call to the public validator. /favicon.ico is billsync's
icon, for these pages and the admin UI.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/static-offline-docs"
FAVICON = Path(__file__).parent / "static" / "favicon.svg"
FAVICON_URL = "/favicon.ico"
#: Everything from billsync itself; ReDoc's inline styles and its blob: web worker allowed.
_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; font-src 'self' data:"
)


def _page(html: HTMLResponse) -> HTMLResponse:
    html.headers["Content-Security-Policy"] = _POLICY
    return html


def add_docs(api: FastAPI, title: str) -> None:
    """Serve /docs, /redoc, their assets and /favicon.ico on `api` (created with
    docs_url=None and redoc_url=None)."""
    api.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")
    openapi_url = api.openapi_url or "/openapi.json"

    @api.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _page(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{title} - Swagger UI",
                swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=FAVICON_URL,
                # No call to the public validator service.
                swagger_ui_parameters={"validatorUrl": None},
            )
        )

    @api.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _page(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{title} - ReDoc",
                redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
                redoc_favicon_url=FAVICON_URL,
                with_google_fonts=False,
            )
        )

    @api.get(FAVICON_URL, include_in_schema=False)
    async def favicon() -> FileResponse:
        # SVG under the name browsers ask for unprompted (no 404 in every page's log).
        return FileResponse(
            FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"}
        )
