"""The Lambda ``Invoke`` API on 127.0.0.1, so ``boto3.client("lambda").invoke`` works offline.

``InvocationType=Event`` answers 202 at once and runs the function in the
background, as Lambda does (no retries, like ``MaximumRetryAttempts: 0``);
``RequestResponse`` answers with the function's result.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from local_stack.loopback import LoopbackServer, send_json

__all__ = ["LambdaApi"]

Invoke = Callable[[dict[str, Any]], Any]
_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations")


class LambdaApi(LoopbackServer):
    def __init__(self, functions: dict[str, Invoke], port: int = 0) -> None:
        self.functions = functions
        self.background: list[threading.Thread] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                api._invoke(self)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler, port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait(self, timeout: float = 30.0) -> None:
        """Wait for background (``Event``) invocations to finish."""
        for thread in list(self.background):
            thread.join(timeout)

    def _invoke(self, handler: BaseHTTPRequestHandler) -> None:
        match = _PATH.match(handler.path)
        name = unquote(match.group(1)).rsplit(":", 1)[-1] if match else ""
        length = int(handler.headers.get("Content-Length") or 0)
        payload = json.loads(handler.rfile.read(length) or b"{}")
        function = self.functions.get(name)
        if function is None:
            body = {"Type": "User", "message": f"Function not found: {name}"}
            send_json(handler, 404, body, {"x-amzn-ErrorType": "ResourceNotFoundException"})
            return
        if handler.headers.get("X-Amz-Invocation-Type") == "Event":
            thread = threading.Thread(target=function, args=(payload,), daemon=True)
            self.background.append(thread)
            thread.start()
            send_json(handler, 202, None)
            return
        send_json(handler, 200, function(payload))
