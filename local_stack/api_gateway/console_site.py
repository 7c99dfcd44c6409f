"""The browser console (``console/``) served by the local gateway beside the WebSocket:
``GET /`` without an upgrade is the page, ``/config.json`` tells it this stack's URL,
user pool client and demo user, and the page's own files and the client library it
imports (``client/*.js`` at ``/client/``) are served as they are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

__all__ = ["CLIENT_DIR", "CONSOLE_DIR", "ConsoleSite"]

CONSOLE_DIR = Path(__file__).resolve().parents[2] / "console"
CLIENT_DIR = CONSOLE_DIR.parent / "client"

# The page talks to the gateway (ws:) and to Cognito (another origin), loads nothing
# else, and never renders text as markup; the policy holds it to that.
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self' ws: wss: http: https:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
}
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}


class ConsoleSite:
    def __init__(
        self, config: dict[str, Any], directory: Path = CONSOLE_DIR, library: Path = CLIENT_DIR
    ) -> None:
        self.config = config
        self.directory = directory
        # Only the files that are there when the stack starts, never a path from a URL.
        self._files = _files(directory)
        self._library = {n: p for n, p in _files(library).items() if p.suffix == ".js"}

    def add_routes(self, router: web.UrlDispatcher) -> None:
        # Stage names have no dot, so these never shadow `/{stage}`.
        router.add_get("/config.json", self._config)
        router.add_get(r"/{name:[\w-]+\.(?:html|js|css)}", self._file)
        router.add_get(r"/client/{name:[\w-]+\.js}", self._library_file)

    async def index(self, request: web.Request) -> web.StreamResponse:
        return self._serve("index.html")

    async def _file(self, request: web.Request) -> web.StreamResponse:
        return self._serve(request.match_info["name"])

    async def _library_file(self, request: web.Request) -> web.StreamResponse:
        return self._serve(request.match_info["name"], self._library)

    async def _config(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.config, headers={"Cache-Control": "no-store"})

    def _serve(self, name: str, files: dict[str, Path] | None = None) -> web.StreamResponse:
        path = (self._files if files is None else files).get(name)
        if path is None:
            raise web.HTTPNotFound(text=f"{name}: not a file of the console\n")
        return web.Response(
            body=path.read_bytes(),
            content_type=_TYPES[path.suffix],
            charset="utf-8",
            headers=_HEADERS,
        )


def _files(directory: Path) -> dict[str, Path]:
    if not directory.is_dir():
        return {}
    return {p.name: p for p in directory.iterdir() if p.is_file() and p.suffix in _TYPES}
