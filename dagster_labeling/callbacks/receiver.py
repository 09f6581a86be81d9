"""The callbacks receiver: a small ASGI app that authenticates, stores (committed), then answers 2xx.

>>> import os, tempfile
>>> from starlette.testclient import TestClient
>>> from dagster_labeling.callbacks import ScaleCallbackSource
>>> inbox = CallbackInbox(os.path.join(tempfile.mkdtemp(), "inbox.db"))
>>> app = build_callback_app(inbox, [ScaleCallbackSource("k")])
>>> r = TestClient(app).post("/callbacks/scale", json={"task_id": "t1", "task": {}, "response": {}},
...                          headers={"scale-callback-auth": "k"})
>>> r.status_code, r.json()
(200, {'accepted': True, 'duplicate': False, 'seq': 1})

Order of checks: unknown source 404, body too large 413 (``Content-Length`` up front, then counted while
streaming), authentication 401, malformed JSON or non-object 400; then the event is committed to the inbox
and only then is 200 returned. Any failure to store answers 500, so the platform redelivers.
"""

import json
import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dagster_labeling.callbacks.inbox import CallbackInbox, strip_sensitive_headers
from dagster_labeling.callbacks.sources import CallbackRejected, CallbackSource

__all__ = ["DEFAULT_MAX_BODY_BYTES", "build_callback_app"]

logger = logging.getLogger("dagster_labeling.callbacks.receiver")

DEFAULT_MAX_BODY_BYTES = 1_048_576


class _BodyTooLarge(Exception):
    pass


def _reject_constant(value: str) -> Any:
    raise ValueError(f"non-standard JSON constant {value}")


async def _read_body_bounded(request: Request, max_body_bytes: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > max_body_bytes:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def build_callback_app(
    inbox: CallbackInbox,
    sources: Sequence[CallbackSource],
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    retention: timedelta | None = None,
    prune_every: timedelta = timedelta(hours=1),
) -> Starlette:
    """Build the ASGI app serving ``POST /callbacks/{source_name}`` and ``GET /healthz``.

    Answers ``{"accepted": true, "duplicate": bool, "seq": int | null}`` once the event is committed.
    With ``retention``, events older than it are pruned (:meth:`CallbackInbox.prune`) after a stored
    callback, at most once per ``prune_every``, so the inbox does not grow forever.
    """
    if retention is not None and retention <= timedelta(0):
        raise ValueError("retention must be positive (or None to keep every event)")
    last_prune = [float("-inf")]
    by_name: dict[str, CallbackSource] = {}
    for src in sources:
        if not src.name or "/" in src.name:
            raise ValueError(f"invalid callback source name {src.name!r}")
        if src.name in by_name:
            raise ValueError(f"two callback sources named {src.name!r}")
        by_name[src.name] = src
    if max_body_bytes <= 0:
        raise ValueError("max_body_bytes must be positive")

    def reject(source_name: str, status: int, reason: str) -> JSONResponse:
        logger.info("callback rejected source=%s status=%d reason=%s", source_name, status, reason)
        return JSONResponse({"accepted": False, "error": reason}, status_code=status)

    async def receive_callback(request: Request) -> Response:
        source_name = request.path_params["source_name"]
        source = by_name.get(source_name)
        if source is None:
            return reject(source_name[:64], 404, "unknown callback source")

        content_length = request.headers.get("content-length")
        if content_length is not None:
            try:
                declared = int(content_length)
            except ValueError:
                return reject(source.name, 400, "invalid Content-Length")
            if declared > max_body_bytes:
                return reject(source.name, 413, f"body larger than {max_body_bytes} bytes")
        try:
            body = await _read_body_bounded(request, max_body_bytes)
        except _BodyTooLarge:
            return reject(source.name, 413, f"body larger than {max_body_bytes} bytes")

        try:
            source.verify(request.headers, body)
        except CallbackRejected as exc:
            return reject(source.name, exc.status_code, exc.reason)

        try:
            payload = json.loads(body, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError):
            return reject(source.name, 400, "body is not valid JSON")
        if not isinstance(payload, dict):
            return reject(source.name, 400, "body must be a JSON object")

        try:
            dedup_key = source.dedup_key(request.headers, payload)
        except CallbackRejected as exc:
            return reject(source.name, exc.status_code, exc.reason)

        headers = strip_sensitive_headers(request.headers, extra=source.secret_headers)
        try:
            event = await run_in_threadpool(inbox.add, source.name, dedup_key, payload, headers)
        except Exception:
            # No 2xx unless stored: the platform will redeliver. No traceback text to the caller.
            logger.exception("callback NOT stored source=%s dedup_key=%s", source.name, dedup_key)
            return JSONResponse({"accepted": False, "error": "storage failure"}, status_code=500)

        if retention is not None and time.monotonic() - last_prune[0] >= prune_every.total_seconds():
            last_prune[0] = time.monotonic()
            try:
                pruned = await run_in_threadpool(inbox.prune, retention)
                logger.info("pruned %d callback(s) older than %s from the inbox", pruned, retention)
            except Exception:  # the event is stored: pruning later is fine, refusing it is not
                logger.exception("pruning the callback inbox failed")
        duplicate = event is None
        seq = None if event is None else event.seq
        logger.info(
            "callback accepted source=%s dedup_key=%s duplicate=%s seq=%s bytes=%d",
            source.name, dedup_key, duplicate, seq, len(body),
        )
        return JSONResponse({"accepted": True, "duplicate": duplicate, "seq": seq})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True, "sources": sorted(by_name)})

    return Starlette(
        routes=[
            Route("/callbacks/{source_name}", receive_callback, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
