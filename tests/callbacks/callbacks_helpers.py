"""Shared helpers for the callbacks tests (a uniquely named module, so it never collides)."""

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

SCALE_KEY = "live_cbk_9f8e7d6c5b4a-SECRET"
AUTH = {"scale-callback-auth": SCALE_KEY}


def scale_body(task_id: str = "576c41bf13e36b0600b02b34", category: str = "red") -> dict[str, Any]:
    return {
        "task": {
            "task_id": task_id,
            "completed_at": "2016-06-23T21:54:44.904Z",
            "response": {"category": category},
            "created_at": "2016-06-23T20:08:31.573Z",
            "callback_url": "http://www.example.com/callback",
            "type": "categorization",
            "status": "completed",
            "instruction": "Is this object red or blue?",
            "params": {"attachment_type": "text", "attachment": "tomato", "categories": ["red", "blue"]},
            "metadata": {},
        },
        "response": {"category": category},
        "task_id": task_id,
    }


def make_poster(app: Any) -> Callable[..., httpx.Response]:
    def _post(
        path: str = "/callbacks/scale",
        *,
        json: Any = None,
        content: bytes | Callable[[], AsyncIterator[bytes]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        async def go() -> httpx.Response:
            body: Any = content() if callable(content) else content
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
                return await c.post(path, json=json, content=body, headers=headers)

        return asyncio.run(go())

    return _post
