"""A small HTTP server on 127.0.0.1 in a background thread, for local endpoints and tests."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = ["LoopbackServer", "send_json"]


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid-answer (a stopped reply, a broken stream) is
        expected here, not a fault: say nothing. Anything else is printed as usual."""
        if isinstance(sys.exception(), ConnectionError):
            return
        super().handle_error(request, client_address)


class LoopbackServer:
    """Serves ``handler`` on 127.0.0.1 (``port=0``: a free port) until ``stop``."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0) -> None:
        self._httpd = _Server(("127.0.0.1", port), handler)
        self._httpd.daemon_threads = True
        # Polled every 50 ms for ``stop`` (the default 0.5 s made the stack's Ctrl-C wait).
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_port)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def send_json(
    handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    data = b"" if body is None else json.dumps(body).encode()
    handler.send_response(status)
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
