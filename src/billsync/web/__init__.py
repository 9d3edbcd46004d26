"""The admin UI: server-rendered Jinja2 pages with HTMX, mounted under /ui by the API server."""

from __future__ import annotations

from billsync.web.router import router

__all__ = ["router"]
