"""Deterministic fault injection for the emulators: 429/5xx answers, slow answers, dropped connections."""

import asyncio
import logging
import random
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pydantic import BaseModel, Field

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorBody = Callable[[int, str], bytes]

FAULT_KINDS = ("429", "500", "503", "slow", "drop_before", "drop_after")
#: Opt-in kinds: weight 0 unless given in ``weights``, so default fault sequences are unchanged.
#: ``stream_break``: the answer starts (headers and the first body chunk of a stream), then the connection drops.
EXTRA_FAULT_KINDS = ("stream_break",)
ALL_FAULT_KINDS = FAULT_KINDS + EXTRA_FAULT_KINDS


class FaultConfig(BaseModel):
    """What faults to inject and how often; deterministic for a given ``seed`` and request order."""

    rate: float = Field(0.0, ge=0.0, le=1.0, description="Probability that a request gets a fault.")
    seed: int = Field(0, description="Seed of the fault RNG; the same seed gives the same fault sequence.")
    weights: dict[str, float] = Field(
        default_factory=lambda: dict.fromkeys(FAULT_KINDS, 1.0),
        description=f"Relative weight of each fault kind, keys among {ALL_FAULT_KINDS}.",
    )
    retry_after_seconds: float = Field(1.0, ge=0, description="Value of Retry-After on injected 429s.")
    slow_seconds: float = Field(1.0, ge=0, description="Extra real seconds a 'slow' fault waits.")
    latency_seconds: float = Field(0.0, ge=0, description="Simulated latency added to every request.")
    methods: list[str] | None = Field(None, description="Only fault these HTTP methods (None: all).")
    path_prefixes: list[str] | None = Field(
        None, description="Only fault paths (relative to the platform mount) with these prefixes."
    )

    def model_post_init(self, __context: Any) -> None:
        unknown = set(self.weights) - set(ALL_FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {ALL_FAULT_KINDS}")


class ConnectionDropped(Exception):
    """Raised inside the ASGI app after a partial response so that the server closes the socket."""


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionDropped)


_quiet_installed = False


def install_log_filter() -> None:
    """Keep uvicorn from logging a traceback for every deliberately dropped connection."""
    global _quiet_installed
    if not _quiet_installed:
        logging.getLogger("uvicorn.error").addFilter(_QuietDrops())
        _quiet_installed = True


def _retry_after(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class FaultInjector:
    """ASGI middleware that applies a :class:`FaultConfig` to one platform mount and counts faults.

    ``error_body(status, message)`` renders the platform's own error JSON. Dropping a connection
    sends response headers with a Content-Length and part of the body, then raises
    :class:`ConnectionDropped`; uvicorn closes the socket and clients see a protocol error.
    """

    def __init__(self, app: ASGIApp, error_body: ErrorBody, config: FaultConfig | None = None) -> None:
        self.app = app
        self.error_body = error_body
        self.counters: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.config = config or FaultConfig()

    @property
    def config(self) -> FaultConfig:
        return self._config

    @config.setter
    def config(self, value: FaultConfig) -> None:
        with self._lock:
            self._config = value
            self._rng = random.Random(value.seed)

    def reset(self, config: FaultConfig | None = None) -> None:
        """Install ``config`` (default: no faults) and zero the counters."""
        self.config = config or FaultConfig()
        with self._lock:
            self.counters.clear()

    def _choose(self, method: str, path: str) -> str | None:
        cfg = self._config
        with self._lock:
            self.counters["requests"] += 1
            if cfg.rate <= 0:
                return None
            if cfg.methods is not None and method.upper() not in {m.upper() for m in cfg.methods}:
                return None
            if cfg.path_prefixes is not None and not any(path.startswith(p) for p in cfg.path_prefixes):
                return None
            if self._rng.random() >= cfg.rate:
                return None
            kinds = [k for k in ALL_FAULT_KINDS if cfg.weights.get(k, 0) > 0]
            if not kinds:
                return None
            kind = self._rng.choices(kinds, weights=[cfg.weights[k] for k in kinds])[0]
            self.counters[kind] += 1
            return kind

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cfg = self._config
        if cfg.latency_seconds > 0:
            await asyncio.sleep(cfg.latency_seconds)
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        kind = self._choose(scope.get("method", "GET"), path)
        if kind is None:
            await self.app(scope, receive, send)
        elif kind in ("429", "500", "503"):
            status = int(kind)
            messages = {429: "Too many requests", 500: "Internal server error", 503: "Service unavailable"}
            body = self.error_body(status, f"{messages[status]} (injected fault)")
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            if status == 429:
                headers.append((b"retry-after", _retry_after(cfg.retry_after_seconds).encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        elif kind == "stream_break":
            await self._break_stream(scope, receive, send)
        elif kind == "slow":
            await asyncio.sleep(cfg.slow_seconds)
            await self.app(scope, receive, send)
        elif kind == "drop_before":
            # read the request first: closing with unread bytes would make the kernel send a RST
            while (await receive()).get("more_body"):
                pass
            await self._drop(send, 200, [(b"content-type", b"application/json")], b'{"status_code": 200}')
        else:  # drop_after: process and commit fully, then break the response
            captured: list[Message] = []

            async def capture(message: Message) -> None:
                captured.append(message)

            await self.app(scope, receive, capture)
            start = next((m for m in captured if m["type"] == "http.response.start"), None)
            body = b"".join(m.get("body", b"") for m in captured if m["type"] == "http.response.body")
            status = start["status"] if start else 200
            headers = [(k, v) for k, v in (start.get("headers", []) if start else []) if k.lower() != b"content-length"]
            await self._drop(send, status, headers, body)

    async def _break_stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Forward the start and the first body chunk of a streamed answer, then drop the connection.

        A single-chunk answer loses its second half instead, without a Content-Length to tell.
        """
        install_log_filter()
        sent_chunks = 0

        async def forward(message: Message) -> None:
            nonlocal sent_chunks
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"]
                await send({**message, "headers": headers})
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            body = message.get("body", b"")
            if sent_chunks == 0 and message.get("more_body"):
                sent_chunks += 1
                await send({"type": "http.response.body", "body": body, "more_body": True})
                return
            if sent_chunks == 0:
                await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            raise ConnectionDropped("stream broken by fault injection")

        await self.app(scope, receive, forward)

    @staticmethod
    async def _drop(send: Send, status: int, headers: list[Any], body: bytes) -> None:
        install_log_filter()
        total = max(len(body), 2)
        headers = [*headers, (b"content-length", str(total).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body[: total // 2], "more_body": True})
        raise ConnectionDropped("connection dropped by fault injection")
