"""Serve an ASGI app (an emulator, the callbacks receiver, your own test double) with uvicorn in a thread.

>>> from starlette.applications import Starlette
>>> import httpx
>>> with serve_in_thread(Starlette()) as url:
...     httpx.get(url + "/missing").status_code
404
"""

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

#: Seconds a connection may sit idle (no request under way) before the server closes it: uvicorn's default,
#: the idle timeout of the FastAPI servers behind Argilla, LLM Engine and Refuel.
DEFAULT_IDLE_TIMEOUT_SECONDS = 5.0


class IdleTimeoutHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol, its keep-alive timeout also closing connections idle before a request.

    uvicorn arms the timeout only after a response; a connection that never sends a request (or stops in
    the middle of its headers) would stay open for ever. Here the timer also runs from the moment the
    connection opens and after each piece of an unfinished request head.
    """

    timeout_keep_alive_task: asyncio.TimerHandle | None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm_idle_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is None or self.cycle.response_complete:  # no request under way: still idle
            self._arm_idle_timer()

    def _arm_idle_timer(self) -> None:
        if self.timeout_keep_alive_task is None and not self.transport.is_closing():
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive,
                                                                self.timeout_keep_alive_handler)


class ThreadedServer:
    """uvicorn serving ``app`` on ``host:port`` in a daemon thread; ``port=0`` picks a free port.

    ``start()`` returns once the socket accepts connections (``OSError`` naming ``host:port`` if it cannot
    listen, e.g. the port is taken); ``stop()`` lets in-flight requests finish (up to
    ``graceful_shutdown_seconds``) and joins the thread. A connection idle for ``idle_timeout_seconds`` (no
    request under way) is closed. No access log is written. ``uvicorn_options`` go to ``uvicorn.Config``.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning",
                 graceful_shutdown_seconds: float = 1.0, idle_timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS,
                 **uvicorn_options: Any) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._config = dict(log_level=log_level, lifespan="off", access_log=False, http=IdleTimeoutHTTPProtocol,
                            timeout_keep_alive=idle_timeout_seconds,
                            timeout_graceful_shutdown=graceful_shutdown_seconds, **uvicorn_options)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self, timeout: float = 10.0) -> "ThreadedServer":
        if self._server is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart may rebind the same port at once
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise OSError(exc.errno, f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from exc
        self.port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(self.app, **self._config))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{self.port}",
                                  daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise RuntimeError(f"the server on {self.url} did not start within {timeout:g} s")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        self._server = self._thread = None


@contextmanager
def serve_in_thread(app: Any, *, host: str = "127.0.0.1", port: int = 0, **options: Any) -> Iterator[str]:
    """Serve ``app`` for the duration of the ``with`` block; yields its base URL (``http://host:port``)."""
    server = ThreadedServer(app, host=host, port=port, **options).start()
    try:
        yield server.url
    finally:
        server.stop()
