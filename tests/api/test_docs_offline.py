"""/docs and /redoc load everything from billsync itself; /favicon.ico exists (issue #12,
item 2). The browser check with outside hosts blocked is in tests/browser/test_polish.py."""

from __future__ import annotations

import re

import pytest

from tests.api.conftest import Env


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        ("/docs", ["swagger-ui-bundle.js", "swagger-ui.css"]),
        ("/redoc", ["redoc.standalone.js"]),
    ],
)
async def test_docs_pages_load_assets_from_billsync(env: Env, page: str, assets: list[str]) -> None:
    html = await env.http.get(page)
    assert html.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text)
    assert urls, html.text
    assert all(url.startswith("/") for url in urls), urls  # nothing from another host
    assert "http://" not in html.text.replace("http://test", "")
    assert "https://" not in html.text
    for asset in assets:
        url = f"/static-offline-docs/{asset}"
        assert url in urls
        served = await env.http.get(url)
        assert served.status_code == 200 and len(served.content) > 100_000
    assert "/favicon.ico" in urls


async def test_favicon(env: Env) -> None:
    icon = await env.http.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.text.startswith("<svg")
