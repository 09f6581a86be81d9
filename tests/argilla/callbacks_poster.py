"""POST to an ASGI app through httpx.ASGITransport (as tests/callbacks does)."""

import asyncio
from collections.abc import Callable
from typing import Any

import httpx


def make_poster(app: Any) -> Callable[..., httpx.Response]:
    def _post(path: str, *, content: bytes | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        async def go() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
                return await c.post(path, content=content, headers=headers)

        return asyncio.run(go())

    return _post
