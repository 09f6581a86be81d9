"""What every platform client shares: credential headers as an ``httpx.Auth``, and context-manager plumbing.

>>> auth = HeaderAuth({"Authorization": basic_auth_header("sk-123")})
>>> repr(auth)
'HeaderAuth(Authorization=***)'
"""

import base64
from collections.abc import Generator, Mapping
from typing import TypeVar

import httpx

from dagster_labeling._core.transport import HttpTransport

ClientT = TypeVar("ClientT", bound="PlatformClient")


def basic_auth_header(username: str, password: str = "") -> str:
    """``Basic base64(username:password)``; the platforms that use Basic put the key as username."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class HeaderAuth(httpx.Auth):
    """Sets fixed credential headers on every request; its repr names the headers, never their values."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    def __repr__(self) -> str:
        return f"HeaderAuth({', '.join(f'{name}=***' for name in self._headers)})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(self._headers)
        yield request


class PlatformClient:
    """Base of the platform clients: ``with Client(...) as c:`` closes the connection pool at the end."""

    _http: HttpTransport

    def __enter__(self: ClientT) -> ClientT:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def base_url(self) -> str:
        return self._http.base_url
