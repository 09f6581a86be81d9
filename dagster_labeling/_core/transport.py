"""The HTTP transport every platform client is built on.

One :class:`HttpTransport` per client: an ``httpx.Client`` with explicit timeouts and a connection pool
sized for the client's concurrency, platform auth as an ``httpx.Auth``, the retry policy, and the mapping
of error answers to the :mod:`~dagster_labeling._core.errors` hierarchy with the vendor's message.
"""

import json
import logging
import random
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any, cast

import httpx
from pydantic import BaseModel, ConfigDict, Field
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_before_delay

from dagster_labeling import __version__
from dagster_labeling._core.encoding import dumps
from dagster_labeling._core.errors import (
    APIError,
    ConnectionFailed,
    InvalidInput,
    RateLimited,
    error_class_for_status,
)
from dagster_labeling._core.redaction import Redactor, mask_url, url_secrets
from dagster_labeling._core.retry import RetryPolicy, is_retryable_status, parse_retry_after

logger = logging.getLogger("dagster_labeling.http")

USER_AGENT = f"dagster-labeling/{__version__}"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid", "x-trace-id")
# Network errors after which the request certainly never reached the server: always safe to retry.
NEVER_SENT_ERRORS: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

ErrorClassFor = Callable[[int], type[APIError]]
ErrorMessageFor = Callable[[httpx.Response], str]


def is_retryable_failure(exc: BaseException, *, safe_to_repeat: bool) -> bool:
    """Whether a failed request may be sent again.

    A 429 was refused, not processed, and a connection that was never established sent nothing: both are
    always safe. A 5xx or a failure after sending may have been processed: only if ``safe_to_repeat``
    (an idempotent method, or a request carrying an idempotency key).
    """
    if isinstance(exc, APIError):
        return exc.status_code == 429 or (is_retryable_status(exc.status_code) and safe_to_repeat)
    if isinstance(exc, NEVER_SENT_ERRORS):
        return True
    return isinstance(exc, httpx.TransportError) and safe_to_repeat


class Timeouts(BaseModel):
    """Explicit HTTP timeouts, in seconds."""

    model_config = ConfigDict(frozen=True)

    connect: float = Field(10.0, gt=0, description="Seconds to establish a connection.")
    read: float = Field(60.0, gt=0, description="Seconds to wait for a chunk of the answer.")
    write: float = Field(60.0, gt=0, description="Seconds to send a chunk of the request.")
    pool: float = Field(30.0, gt=0, description="Seconds to wait for a free connection from the pool.")

    def to_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)


def default_error_message(response: httpx.Response) -> str:
    """The vendor's message: the usual JSON keys, else the raw text (truncated)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:1000] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("error", "detail", "message", "error_msg", "msg"):
            value = body.get(key)
            if value:
                return value if isinstance(value, str) else json.dumps(value)[:1000]
    return json.dumps(body)[:1000]


def quote_path_segment(value: str) -> str:
    """Percent-encode a name for use as one path segment (``/`` included), as the vendors' SDKs do."""
    return urllib.parse.quote(str(value), safe="")


def encode_query(
    params: Mapping[str, Any] | None, *, true: str = "true", false: str = "false"
) -> list[tuple[str, str]]:
    """Query pairs: ``None`` dropped, lists repeat the key, booleans spelled as the platform expects."""
    pairs: list[tuple[str, str]] = []
    for key, value in (params or {}).items():
        values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
        for item in values:
            if item is None:
                continue
            if isinstance(item, bool):
                pairs.append((key, true if item else false))
            else:
                pairs.append((key, str(item.value if hasattr(item, "value") else item)))
    return pairs


MAX_PREPARED_URLS = 1024
# Shorter user names or passwords in a base URL are masked in the URL shown but not hunted in every message
# (replacing each "a" of a text would make it unreadable, and protects nothing).
MIN_REDACTED_URL_SECRET = 4


def check_base_url(platform: str, base_url: str) -> httpx.URL:
    """``base_url`` parsed, or :class:`InvalidInput` (``field="base_url"``) naming it (credentials masked) and the fix.

    >>> httpx.URL("http://127.0.0.1:8765/scale/v1") == check_base_url("Demo", "http://127.0.0.1:8765/scale/v1")
    True
    >>> try:
    ...     check_base_url("Demo", "localhost:8080")
    ... except InvalidInput as err:
    ...     print(err.field, "->", str(err).partition("scheme. ")[2])
    base_url -> Write the full address, e.g. 'http://localhost:8080'.
    """
    text = base_url if isinstance(base_url, str) else ""
    shown = mask_url(text)
    example = "'https://api.example.com/v1'"
    reason = None
    if not text.strip():
        reason = "it is empty"
    elif any(c.isspace() or ord(c) < 32 for c in text):
        reason = "it contains spaces or control characters (percent-encode them, e.g. %20, or remove them)"
    elif "://" not in text:
        reason = "it has no http:// or https:// scheme"
        example = repr(f"http://{shown}")
    else:
        scheme, _, rest = text.partition("://")
        if scheme.lower() not in ("http", "https"):
            reason = f"the scheme {scheme!r} is not http or https"
            example = repr(f"https://{mask_url('http://' + rest)[len('http://'):]}")
    url = None
    if reason is None:
        try:
            url = httpx.URL(text)
            urllib.parse.urlsplit(text).port  # noqa: B018  (raises ValueError if out of range)
            if not url.host:
                reason = "it has no host"
        except (httpx.InvalidURL, ValueError) as exc:
            reason = str(exc).replace(text, shown)
    if reason is not None or url is None:
        raise InvalidInput(f"{platform}: base_url {shown!r} is not a usable URL: {reason}. "
                           f"Write the full address, e.g. {example}.", field="base_url")
    return url


class _MaskURLsInHttpxLogs(logging.Filter):
    """httpx logs every request's full URL at INFO: show it as :func:`mask_url` does."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(mask_url(str(a)) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


def mask_urls_in_httpx_logs() -> None:
    """Install the httpx log filter that masks credentials in URLs (once per process)."""
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, _MaskURLsInHttpxLogs) for f in httpx_logger.filters):
        httpx_logger.addFilter(_MaskURLsInHttpxLogs())


def _frozen(value: Any) -> Any:
    """A hashable stand-in for query params (lists and mappings as tuples)."""
    if isinstance(value, Mapping):
        return tuple((k, _frozen(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


class HttpTransport:
    """Sends requests for one platform with retries, timeouts, typed errors and redaction.

    A malformed ``base_url`` is an :class:`InvalidInput` at once. Credentials written into it (user info,
    ``?api_key=``) are used but never shown: ``base_url`` and the repr, errors and logs show it masked. User info
    is sent as Basic auth when ``auth`` is None (httpx's rule), else ignored as httpx does, never in the URL.

    >>> t = HttpTransport(platform="Demo", base_url="http://u:secret@127.0.0.1:9/api/", auth=None, secrets=["k"])
    >>> t.url("items/a b"), t
    ('http://127.0.0.1:9/api/items/a b', HttpTransport(platform='Demo', base_url='http://***@127.0.0.1:9/api'))
    >>> t.close()
    """

    def __init__(
        self,
        *,
        platform: str,
        base_url: str,
        auth: httpx.Auth | None,
        secrets: Iterable[str | None] = (),
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        max_connections: int = 32,
        headers: Mapping[str, str] | None = None,
        error_class_for: ErrorClassFor = error_class_for_status,
        error_message_for: ErrorMessageFor = default_error_message,
        success_statuses: frozenset[int] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        parsed = check_base_url(platform, base_url)
        if auth is None and (parsed.username or parsed.password):
            auth = httpx.BasicAuth(parsed.username, parsed.password)
        self.platform = platform
        #: The base URL as shown (credentials masked); requests go to the URL as given.
        self.base_url = mask_url(base_url).rstrip("/")
        self._target_url = str(parsed.copy_with(username=None, password=None, query=None, fragment=None)).rstrip("/")
        self._target_query = parsed.query.decode("ascii")
        self.redactor = Redactor([*secrets, *(s for s in url_secrets(base_url) if len(s) >= MIN_REDACTED_URL_SECRET)])
        mask_urls_in_httpx_logs()
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self._error_class_for = error_class_for
        self._error_message_for = error_message_for
        self._success_statuses = success_statuses
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._prepared_urls: dict[tuple[str, Any], httpx.URL] = {}
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self.client = httpx.Client(
            auth=auth,
            timeout=self.timeouts.to_httpx(),
            limits=limits,
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"HttpTransport(platform={self.platform!r}, base_url={self.base_url!r})"

    def url(self, path: str) -> str:
        """The absolute URL requests for ``path`` go to, with the base URL's query if it has one (never log it)."""
        url = f"{self._target_url}/{path.lstrip('/')}"
        return f"{url}?{self._target_query}" if self._target_query else url

    def close(self) -> None:
        self.client.close()

    # -- requests ---------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, str]] | None = None,
        json_body: Any = None,
        send_json: bool = False,
        content: bytes | None = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        timeout: httpx.Timeout | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send one request, retrying per the policy; return the response or raise a typed error.

        ``send_json=True`` sends ``json_body`` even when it is ``None`` (as ``null``).
        ``idempotent`` overrides the method's default (pass ``True`` for a POST carrying an idempotency key).
        ``stream=True`` returns a successful response as soon as its headers arrive, body unread (the caller
        iterates and closes it): retries then happen only before the first byte of the body.
        """
        method = method.upper()
        safe_to_repeat = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        kwargs: dict[str, Any] = {"headers": headers}
        if json_body is not None or send_json:
            kwargs["content"] = dumps(json_body)
            kwargs["headers"] = {"Content-Type": "application/json", **(headers or {})}
        elif content is not None:
            kwargs["content"] = content
        if data is not None:
            kwargs["data"] = data
        if files is not None:
            kwargs["files"] = files
        if timeout is not None:
            kwargs["timeout"] = timeout
        kwargs["url"] = self.prepared_url(path, params)

        # Fast path: most requests succeed at once, and building the retry machinery for each one cost about
        # 1 ms of CPU per request under 32 threads. It is built only after a failure, which it then replays as
        # attempt 1 so that attempts, waits and logs are exactly those of the policy.
        try:
            return self._send_once(method, path, kwargs, stream)
        except (APIError, httpx.TransportError) as exc:
            replay: list[Exception] = [exc]

        def attempt() -> httpx.Response:
            if replay:
                raise replay.pop()
            return self._send_once(method, path, kwargs, stream)

        retrying = Retrying(sleep=self._sleep, **self.retry_rules(method, path, safe_to_repeat=safe_to_repeat))
        try:
            return retrying(attempt)
        except httpx.TransportError as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            raise ConnectionFailed(
                self.redactor.redact(
                    f"{self.platform} {method} {path}: {type(exc).__name__}: {exc or 'connection failed'} "
                    f"after {attempts} attempt(s). Check that base_url ({self.base_url}) is right and "
                    f"reachable, or raise the timeouts."
                ),
                platform=self.platform,
                method=method,
                path=self.redactor.redact(path),
                attempts=attempts,
            ) from None

    def prepared_url(self, path: str, params: Mapping[str, Any] | list[tuple[str, str]] | None) -> httpx.URL:
        """The absolute URL of ``path`` with ``params``, built once per distinct (path, params).

        httpx parses a URL string character by character, twice per request (about a third of the client's
        CPU per request here); a prepared ``httpx.URL`` is used as is. Repeated calls (a label endpoint, a
        create-task path) hit the cache; it starts over when it holds ``MAX_PREPARED_URLS`` (pages of a listing
        each add one).
        """
        try:
            key = (path, _frozen(params))
            url = self._prepared_urls.get(key)
        except TypeError:  # a param value that cannot be hashed: build the URL without caching it
            key, url = None, None
        if url is None:
            url = httpx.URL(self.url(path))
            if params:
                url = url.copy_merge_params(cast(Any, params))
            if key is not None:
                if len(self._prepared_urls) >= MAX_PREPARED_URLS:
                    self._prepared_urls.clear()
                self._prepared_urls[key] = url
        return url

    def retry_rules(self, method: str, path: str, *, safe_to_repeat: bool) -> dict[str, Any]:
        """The policy as tenacity arguments (stop, wait, which failures, retry log) for ``Retrying`` or, in an
        async caller, ``AsyncRetrying``; the caller adds its ``sleep``."""
        return {
            "stop": stop_after_attempt(self.retry.max_attempts) | stop_before_delay(self.retry.total_timeout_seconds),
            "wait": self._wait_seconds,
            "retry": retry_if_exception(partial(is_retryable_failure, safe_to_repeat=safe_to_repeat)),
            "before_sleep": lambda state: self._log_retry(method, path, state),
            "reraise": True,
        }

    def _send_once(self, method: str, path: str, kwargs: dict[str, Any], stream: bool) -> httpx.Response:
        started = time.monotonic()
        response = self.client.send(self.client.build_request(method, **kwargs), stream=stream)
        logger.debug(
            "%s %s %s -> %s in %.0f ms", self.platform, method, path, response.status_code,
            (time.monotonic() - started) * 1000,
        )
        ok = (
            response.status_code in self._success_statuses
            if self._success_statuses is not None
            else response.is_success
        )
        if not ok:
            if stream:
                try:
                    response.read()
                finally:
                    response.close()
            raise self.error_from_response(method, path, response)
        return response

    def error_from_response(self, method: str, path: str, response: httpx.Response) -> APIError:
        """The typed error for an error answer, with the vendor's message and no secret."""
        # Redact the body before anything truncates it: a secret cut in half would not be recognized.
        response = self._redacted_response(response)
        message = self.redactor.redact(self._error_message_for(response))
        try:
            body = self.redactor.redact_value(response.json())
        except ValueError:
            body = self.redactor.redact(response.text[:2000])
        request_id = next((response.headers[h] for h in REQUEST_ID_HEADERS if h in response.headers), None)
        cls = self._error_class_for(response.status_code)
        error = cls(
            message,
            platform=self.platform,
            method=method,
            path=self.redactor.redact(path),
            status_code=response.status_code,
            request_id=request_id,
            body=body,
        )
        if isinstance(error, RateLimited):
            error.retry_after = parse_retry_after(response.headers)
        elif is_retryable_status(response.status_code):
            # 503 may carry Retry-After too; keep it for the wait computation.
            error.retry_after = parse_retry_after(response.headers)  # type: ignore[attr-defined]
        return error

    def _redacted_response(self, response: httpx.Response) -> httpx.Response:
        """The response itself if its body carries no secret, else a copy whose body is redacted."""
        text = response.text
        clean = self.redactor.redact(text)
        if clean == text:
            return response
        encoding = response.encoding or "utf-8"
        headers = [(k, v) for k, v in response.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
        try:
            request: httpx.Request | None = response.request
        except RuntimeError:  # a Response built by hand has no request
            request = None
        return httpx.Response(response.status_code, headers=headers,
                              content=clean.encode(encoding, errors="replace"), request=request)

    def _wait_seconds(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hint = getattr(exc, "retry_after", None)
        if hint is not None:
            return min(float(hint), self.retry.max_retry_after_seconds)
        return self.retry.backoff_seconds(state.attempt_number, self._rng)

    def _log_retry(self, method: str, path: str, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        what = f"HTTP {exc.status_code}" if isinstance(exc, APIError) else type(exc).__name__
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "%s %s %s: %s; retrying in %.1f s (attempt %d of %d)", self.platform, method, path, what, wait,
            state.attempt_number + 1, self.retry.max_attempts,
        )
