"""The embedded AWS: moto's services in a process of their own, with DynamoDB made
faithful (``dynamodb_fidelity``), answered on one thread over keep-alive HTTP
(``one_thread_wsgi``).

Out of the gateway's process, moto's work (and its memory) never stalls the
gateway's event loop. moto's own server (werkzeug's development server) closes the
connection after every response, so each SDK call paid a new TCP connection and a
new server thread.

``python -m local_stack.provisioning.embedded_aws --port N`` serves until SIGTERM or Ctrl-C
(with ``--until-stdin-closes``, also until its standard input closes: the local stack
holds the other end, so the embedded AWS never outlives it, even a ``kill -9``).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from typing import NoReturn

__all__ = ["EmbeddedAws", "serve"]


class EmbeddedAws:
    """The embedded AWS as a child process of the local stack, listening on ``url``."""

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
                "--until-stdin-closes",
            ],
            stdin=subprocess.PIPE,  # closed when we exit, however we exit
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
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(2)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stdin is not None:
            self._process.stdin.close()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def serve(port: int, *, until_closes: int | None = None) -> None:
    """Serve moto on 127.0.0.1:``port`` until SIGTERM or SIGINT, or until the file
    descriptor ``until_closes`` reaches its end."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from local_stack.provisioning import one_thread_wsgi
    from local_stack.provisioning.dynamodb_fidelity import make_dynamodb_faithful

    make_dynamodb_faithful()
    one_thread_wsgi.serve(
        DomainDispatcherApplication(create_backend_app), port=port, until_closes=until_closes
    )


def main(argv: list[str] | None = None) -> NoReturn:
    parser = argparse.ArgumentParser(prog="python -m local_stack.provisioning.embedded_aws")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--until-stdin-closes", action="store_true")
    args = parser.parse_args(argv)
    serve(args.port, until_closes=sys.stdin.fileno() if args.until_stdin_closes else None)
    # Served and closed: the data is thrown away whole, as the stack promises. The
    # interpreter's teardown of moto's modules and objects took 0.6 s of the stack's
    # Ctrl-C; exiting here skips it (nothing of ours waits on a finalizer).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
