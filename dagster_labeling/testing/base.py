"""The plug-in point for platform emulators: a raw-path router, request log, and the ``PlatformEmulator`` base."""

import asyncio
import base64
import bisect
import inspect
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote

from dagster_labeling._core.redaction import is_credential_header, redact_query
from dagster_labeling.testing.clock import Clock
from dagster_labeling.testing.delivery import CallbackDispatcher
from dagster_labeling.testing.faults import Message, Receive, Scope, Send
from dagster_labeling.testing.pages import not_found

DEFAULT_API_KEY = "emulator-key"
#: Default request body limit: larger bodies get a 413 before they are read (as an API gateway answers).
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
#: What the request log shows instead of a credential (after the scheme, for ``Authorization: Basic ...``).
REDACTED = "<redacted>"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (send null, or the value as a string)")


def strict_json_loads(data: bytes | str) -> Any:
    """``json.loads`` as a JSON API parses: ``NaN``, ``Infinity`` and ``-Infinity`` are errors, not floats.

    >>> strict_json_loads(b'{"score": NaN}')
    Traceback (most recent call last):
    ...
    ValueError: NaN is not valid JSON (send null, or the value as a string)
    """
    return json.loads(data, parse_constant=_reject_constant)


class HTTPError(Exception):
    """Raise from a handler to answer ``status`` with the platform's error body."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class RawResponse:
    """Return from a handler for a non-JSON or non-200 answer."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class LoggedRequest:
    """One request as a client sent it, credentials redacted.

    Every credential header (``authorization``, ``x-api-key``, ``x-argilla-api-key``, cookies, and any header
    named with key, token, secret, auth, password or signature) reads ``<redacted>`` (``Basic <redacted>`` for
    the auth schemes), and so does the value of a credential query parameter (``api_key=``, ``token=``; not
    ``next_token``) in ``query``.
    """

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        """The body parsed as (strict) JSON (None if empty)."""
        return strict_json_loads(self.body) if self.body else None


class RequestLog:
    """A bounded, thread-safe log of the requests that reached one platform emulator.

    Requests answered by an injected 429/5xx or dropped before processing are not in it (the fault
    injector counts those), nor requests refused before the platform saw them (a body too large or too slow).
    """

    def __init__(self, maxlen: int = 20_000) -> None:
        self._entries: deque[LoggedRequest] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def append(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self, method: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        """Logged requests, optionally filtered by method and exact (raw, percent-encoded) path."""
        with self._lock:
            items = list(self._entries)
        return [e for e in items if (method is None or e.method == method.upper()) and (path is None or e.path == path)]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[LoggedRequest]:
        return iter(self.entries())


class Request:
    """What a handler receives: decoded path params, multi-valued query, headers and the raw body."""

    def __init__(
        self, method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str], body: bytes
    ) -> None:
        self.method = method
        self.path = path
        self.query_items = query
        self.headers = headers
        self.body = body
        self.path_params: dict[str, str] = {}
        #: Where the platform is mounted (``/scale``): pages build their links from it.
        self.root_path = ""

    def q(self, name: str, default: str | None = None) -> str | None:
        """Last value of a query parameter."""
        value = default
        for k, v in self.query_items:
            if k == name:
                value = v
        return value

    def q_all(self, name: str) -> list[str]:
        """All values of a repeated query parameter."""
        return [v for k, v in self.query_items if k == name]

    def json(self) -> Any:
        """The body as JSON; a 400 if it is not valid JSON (``NaN`` and ``Infinity`` are not)."""
        if not self.body:
            return None
        try:
            return strict_json_loads(self.body)
        except ValueError as exc:
            raise HTTPError(400, f"Request body is not valid JSON: {exc}") from exc


Handler = Callable[[Request], Any]
T = TypeVar("T")


def cursor_page(items: Sequence[T], token: str | None, limit: int, position: Callable[[T], Any],
                ) -> tuple[list[T], str | None]:
    """A page of ``items`` after an opaque cursor, as real token-paginated APIs answer.

    ``items`` are in a stable order (e.g. creation order) and ``position(item)`` is the item's place in that
    order (a creation sequence number; it must increase along ``items``: negate it for a newest-first list).
    The cursor names the last item returned, not an offset, so a list
    that shrinks between pages (tasks canceled while a client pages through the pending ones) skips nothing
    that is still there. Returns (the page, the next cursor or None). A token that was not made here is a 400.

    >>> rows = [{"seq": i} for i in range(5)]
    >>> page, token = cursor_page(rows, None, 2, lambda r: r["seq"])
    >>> page, cursor_page(rows[3:], token, 2, lambda r: r["seq"])[0]  # rows 0-2 left the list meanwhile
    ([{'seq': 0}, {'seq': 1}], [{'seq': 3}, {'seq': 4}])
    """
    after: Any = None
    if token:
        try:
            after = json.loads(base64.urlsafe_b64decode(token.encode()).decode())["after"]
        except (ValueError, KeyError, TypeError) as exc:
            raise HTTPError(400, f"Invalid pagination token {token!r}") from exc
    start = 0 if after is None else bisect.bisect_right(items, after, key=position)
    page = list(items[start:start + limit])
    more = start + limit < len(items)
    next_token = base64.urlsafe_b64encode(json.dumps({"after": position(page[-1])}).encode()).decode() \
        if more and page else None
    return page, next_token


class Router:
    """Routes on the raw (percent-encoded) path: split on ``/`` first, then decode each segment.

    Patterns look like ``/v1/batches/{name}/status``; ``%2F`` inside a name never splits it.
    """

    def __init__(self) -> None:
        self._routes: dict[int, list[tuple[str, tuple[str, ...], Handler]]] = {}

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        segments = tuple(pattern.strip("/").split("/"))
        routes = self._routes.setdefault(len(segments), [])
        routes.append((method.upper(), segments, handler))
        routes.sort(key=lambda r: sum(s.startswith("{") for s in r[1]))

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add`."""

        def deco(fn: Handler) -> Handler:
            self.add(method, pattern, fn)
            return fn

        return deco

    def find(self, method: str, raw_path: str) -> tuple[Handler, dict[str, str]] | None:
        """Like :meth:`match`, None instead of a 404 or 405."""
        try:
            return self.match(method, raw_path)
        except HTTPError:
            return None

    def match(self, method: str, raw_path: str) -> tuple[Handler, dict[str, str]]:
        parts = [unquote(p) for p in raw_path.strip("/").split("/")]
        path_matched = False
        for m, segments, handler in self._routes.get(len(parts), []):
            params: dict[str, str] = {}
            for seg, part in zip(segments, parts, strict=True):
                if seg.startswith("{"):
                    params[seg[1:-1]] = part
                elif seg != part:
                    break
            else:
                if m == method:
                    return handler, params
                path_matched = True
        if path_matched:
            raise HTTPError(405, f"Method {method} not allowed on {raw_path}")
        raise HTTPError(404, f"No route for {method} {raw_path}")


def redact_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """ASGI headers as the request log keeps them: lower-cased names, credential values redacted.

    >>> redact_headers([(b"Authorization", b"Basic ZW11bGF0b3Ita2V5Og=="), (b"X-Api-Key", b"k"), (b"Accept", b"*/*")])
    {'authorization': 'Basic <redacted>', 'x-api-key': '<redacted>', 'accept': '*/*'}
    """
    headers: dict[str, str] = {}
    for k, v in raw:
        name = k.decode("latin-1").lower()
        value = v.decode("latin-1")
        if name in ("authorization", "proxy-authorization") and " " in value.strip():
            value = f"{value.split(' ', 1)[0]} {REDACTED}"
        elif is_credential_header(name):
            value = REDACTED
        headers[name] = value
    return headers


def parse_auth_key(authorization: str | None) -> str | None:
    """The API key from ``Basic base64(key:)`` or ``Bearer key``; None if absent or malformed."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return value.strip() or None
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        return decoded.split(":", 1)[0]
    return None


class PlatformEmulator:
    """Base class of one platform's emulator, mounted by :class:`EmulatorServer` under ``/{name}``.

    Subclasses set ``name``, register handlers on ``self.router`` in ``__init__`` (and HTML pages standing in
    for the vendor's web UI on ``self.pages``: GET, no API key, see :mod:`.pages`), and override
    :meth:`reset`, :meth:`tick` and :meth:`error_body`. Handlers are plain functions (or coroutines)
    taking a :class:`Request` and returning JSON-able data (answered with 200) or a
    :class:`RawResponse`, or raising :class:`HTTPError`. Handlers of one platform run under
    ``self.lock`` so that ticks and test introspection see consistent state.
    """

    name: str = "platform"
    #: Bodies larger than this get a 413 with the platform's error body, unread (checked on Content-Length
    #: first, and while a chunked body arrives). A platform whose uploads send larger parts raises it.
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def __init__(self, *, api_key: str = DEFAULT_API_KEY, clock: Clock | None = None) -> None:
        self.api_key = api_key
        self.clock = clock or Clock()
        self.router = Router()
        self.pages = Router()
        self.request_log = RequestLog()
        self.lock = threading.RLock()
        self.callbacks = CallbackDispatcher(self.clock)

    # -- hooks -----------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget all state (called between tests)."""
        self.request_log.clear()

    def tick(self, now: float) -> None:
        """Advance time-based progress to ``now`` (epoch seconds); called by the server's ticker."""

    def error_body(self, status: int, message: str) -> bytes:
        """The platform's JSON error body."""
        return json.dumps({"status_code": status, "error": message}).encode()

    def authenticate(self, request: Request) -> None:
        """Raise ``HTTPError(401)`` unless the request carries the API key (Basic ``key:`` or Bearer)."""
        if parse_auth_key(request.headers.get("authorization")) != self.api_key:
            raise HTTPError(401, "Unauthorized: please provide a valid API key")

    def close(self) -> None:
        """Stop background work (callback deliveries)."""
        self.callbacks.close()

    def log_request(self, method: str, raw_path: str, query_string: str, raw_headers: list[tuple[bytes, bytes]],
                    body: bytes) -> None:
        """Append a request to ``request_log``, its credential headers and query parameters redacted."""
        self.request_log.append(LoggedRequest(method, raw_path, redact_query(query_string, REDACTED),
                                              redact_headers(raw_headers), body, time.time()))

    # -- ASGI ------------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        root = scope.get("root_path", "")
        if root and raw_path.startswith(root):
            raw_path = raw_path[len(root) :] or "/"
        method = scope["method"]
        query_string = scope.get("query_string", b"").decode("latin-1")
        self.log_request(method, raw_path, query_string, scope.get("headers", []), body)
        full_headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        request = Request(method, raw_path, parse_qsl(query_string, keep_blank_values=True), full_headers, body)
        request.root_path = root
        page = self.pages.find(method, raw_path) if method == "GET" else None
        if page is not None:
            status, payload, extra = self._serve_page(request, *page)
        else:
            status, payload, extra = await self._serve_api(request)
        headers_out = [(k.encode(), v.encode()) for k, v in extra.items()]
        headers_out.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers_out})
        await send({"type": "http.response.body", "body": payload})

    async def _serve_api(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
        """Answer an API request: authenticate, route, run the handler (status, body, headers)."""
        status, payload, extra = 200, b"", {"content-type": "application/json"}
        try:
            self.authenticate(request)
            handler, params = self.router.match(request.method, request.path)
            request.path_params = params
            if inspect.iscoroutinefunction(handler):
                result = await handler(request)
            else:
                with self.lock:
                    result = handler(request)
            if isinstance(result, RawResponse):
                status, payload = result.status, result.body
                extra = {**extra, **result.headers}
            else:
                payload = json.dumps(result, separators=(",", ":")).encode()
        except HTTPError as err:
            status, payload = err.status, self.error_body(err.status, err.message)
            extra = {**extra, **err.headers}
        return status, payload, extra

    def _serve_page(self, request: Request, handler: Handler, params: dict[str, str]) -> tuple[int, bytes,
                                                                                                dict[str, str]]:
        """Answer a page request (no API key): the handler's :class:`~.pages.Page`, or the 404 page."""
        request.path_params = params
        try:
            with self.lock:
                page = handler(request)
        except HTTPError as err:
            page = not_found(err.message)
            page.status = err.status
        return page.status, page.render(self.name, [self.api_key]), {"content-type": "text/html; charset=utf-8"}


class BodyLimit:
    """ASGI wrapper of a platform: a body over ``platform.max_body_bytes`` gets a 413, never read whole.

    A declared ``Content-Length`` over the limit is answered before a byte of the body is read; a chunked body
    is read until it passes the limit. The server discards what the client still sends. A body that stops
    arriving for ``idle_timeout_seconds`` gets a 408 and the connection is closed. A body within the limit is
    handed on to the platform as one message.
    """

    def __init__(self, platform: PlatformEmulator, idle_timeout_seconds: float | None = None) -> None:
        self.platform = platform
        self.idle_timeout_seconds = idle_timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.platform(scope, receive, send)
            return
        limit = self.platform.max_body_bytes
        too_large = f"Request body is larger than the limit of {limit} bytes"
        declared = next((v for k, v in scope.get("headers", []) if k.lower() == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, 413, too_large)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.idle_timeout_seconds)
            except asyncio.TimeoutError:
                await self._refuse(send, 408, f"Request body not received within {self.idle_timeout_seconds:g} s",
                                   close=True)
                return
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                await self._refuse(send, 413, too_large)
                return
            if not message.get("more_body"):
                break
        pending: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        await self.platform(scope, replay, send)

    async def _refuse(self, send: Send, status: int, message: str, close: bool = False) -> None:
        body = self.platform.error_body(status, message)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


PlatformFactory = Callable[..., PlatformEmulator]
_REGISTRY: dict[str, PlatformFactory] = {}


def register_platform(name: str, factory: PlatformFactory) -> None:
    """Register a platform emulator; ``factory(api_key=..., clock=...)`` builds it for a server.

    Registered platforms are mounted by default by :class:`EmulatorServer` under ``/{name}``.
    """
    _REGISTRY[name] = factory


def registered_platforms() -> dict[str, PlatformFactory]:
    """The registered platform factories by name."""
    return dict(_REGISTRY)
