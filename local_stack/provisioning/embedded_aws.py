"""The embedded AWS: moto's services in a process of their own, with DynamoDB made
faithful (``dynamodb_fidelity``) and moto's per-request overheads removed
(``moto_speed``), answered on one thread over keep-alive HTTP (``one_thread_wsgi``).

Out of the gateway's process, moto's work (and its memory) never stalls the
gateway's event loop. moto's own server (werkzeug's development server) closes the
connection after every response, so each SDK call paid a new TCP connection and a
new server thread.

``python -m local_stack.provisioning.embedded_aws --port N`` serves until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from http import HTTPStatus
from typing import Any, NoReturn

__all__ = ["EmbeddedAws", "serve"]


class EmbeddedAws:
    """The embedded AWS as a child process of the local stack. It listens on ``url``,
    and on ``background_url`` for the background lane: the same services and data,
    whose requests let those that arrived with them on ``url`` go first."""

    def __init__(self, port: int, background_port: int | None = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.background_port = background_port or _free_port()
        self.background_url = f"http://127.0.0.1:{self.background_port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> EmbeddedAws:
        self._process = subprocess.Popen(  # noqa: S603 (our own module)
            [
                sys.executable,
                "-m",
                "local_stack.provisioning.embedded_aws",
                "--port",
                str(self.port),
                "--background-port",
                str(self.background_port),
            ],
            start_new_session=True,  # Ctrl-C is the stack's to handle, then it stops us
        )
        deadline = time.monotonic() + timeout
        while not (_answers(self.port) and _answers(self.background_port)):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the embedded AWS did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def __enter__(self) -> EmbeddedAws:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(2)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _dynamodb_first(moto: Any) -> Any:
    """DynamoDB's requests straight to moto's DynamoDB handler; the rest through moto's
    own routing. moto finds a request's service from its headers, then hands it to a
    Flask application per service, which calls the handler: about a fifth of moto's
    time per DynamoDB request, spent on finding what the ``X-Amz-Target`` header says."""
    from moto.core.request import normalize_request
    from moto.dynamodb.responses import DynamoHandler
    from moto.moto_api import recorder
    from moto.moto_server.werkzeug_app import BackendRequest

    def application(environ: dict[str, Any], start_response: Any) -> Any:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_20120810."):
            return moto(environ, start_response)
        request = normalize_request(BackendRequest(environ))
        recorder._record_request(request)  # as moto's own route does (MOTO_RECORDER_*)
        status, headers, body = DynamoHandler.dispatch(
            request, request.raw_url, dict(request.headers)
        )
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        status = int(status)
        fields = [(k, str(v)) for k, v in headers.items() if k.lower() != "content-length"]
        start_response(
            f"{status} {HTTPStatus(status).phrase}",
            [*fields, ("Content-Length", str(len(data)))],
        )
        return [data]

    return application


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve(port: int, background_port: int) -> None:
    """Serve moto on 127.0.0.1:``port`` and, for the background lane, on
    ``background_port``, until SIGTERM or SIGINT."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from local_stack.provisioning import one_thread_wsgi
    from local_stack.provisioning.dynamodb_fidelity import make_dynamodb_faithful
    from local_stack.provisioning.moto_speed import make_moto_fast

    make_dynamodb_faithful()
    make_moto_fast()
    moto = _dynamodb_first(DomainDispatcherApplication(create_backend_app))
    one_thread_wsgi.serve(moto, port=port, background_port=background_port)


def main(argv: list[str] | None = None) -> NoReturn:
    parser = argparse.ArgumentParser(prog="python -m local_stack.provisioning.embedded_aws")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--background-port", type=int, required=True)
    args = parser.parse_args(argv)
    serve(args.port, args.background_port)
    # Served and closed: the data is thrown away whole, as the stack promises. The
    # interpreter's teardown of moto's modules and objects took 0.6 s of the stack's
    # Ctrl-C; exiting here skips it (nothing of ours waits on a finalizer).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
