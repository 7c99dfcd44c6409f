"""The embedded AWS: moto's services in a process of their own, served over
keep-alive HTTP, with DynamoDB made faithful (``dynamodb_fidelity``) and moto's
per-request overheads removed (``moto_speed``).

Out of the gateway's process, moto's work (and its memory) never stalls the
gateway's event loop. moto's own server (werkzeug's development server) closes the
connection after every response, so each SDK call paid a new TCP connection and a
new server thread; waitress serves the same WSGI application with connections
kept alive, as AWS's endpoints do.

``python -m local_stack.provisioning.embedded_aws --port N`` serves until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

__all__ = ["EmbeddedAws", "serve"]

# Requests run on these threads; DynamoDB's are serialized anyway (see
# dynamodb_fidelity), so more would only wait. Connections are not limited by them.
THREADS = 8


class EmbeddedAws:
    """The embedded AWS as a child process of the local stack."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> EmbeddedAws:
        self._process = subprocess.Popen(  # noqa: S603 (our own module)
            [
                sys.executable,
                "-m",
                "local_stack.provisioning.embedded_aws",
                "--port",
                str(self.port),
            ],
            start_new_session=True,  # Ctrl-C is the stack's to handle, then it stops us
        )
        deadline = time.monotonic() + timeout
        while not _answers(self.port):
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


def serve(port: int) -> None:
    """Serve moto on 127.0.0.1:``port`` until SIGTERM or SIGINT."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from waitress.server import create_server

    from local_stack.provisioning.dynamodb_fidelity import make_dynamodb_faithful
    from local_stack.provisioning.moto_speed import make_moto_fast

    logging.getLogger("waitress").setLevel(logging.ERROR)  # no line per queue depth
    make_dynamodb_faithful()
    make_moto_fast()
    application = DomainDispatcherApplication(create_backend_app)
    server = create_server(
        application,
        host="127.0.0.1",
        port=port,
        threads=THREADS,
        connection_limit=1000,  # every warm worker keeps a connection or two
        channel_timeout=3600,  # idle keep-alive connections stay open, as SDKs expect
        clear_untrusted_proxy_headers=True,
        ident="embedded-aws",
    )

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)  # waitress's loop ends on it and stops its threads

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    server.run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_stack.provisioning.embedded_aws")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    serve(args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
