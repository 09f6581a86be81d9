"""The emulator is as strict as a real server: strict JSON, a body limit, idle timeouts, a log without secrets."""

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dagster_labeling.testing import EmulatorServer, FaultConfig, HTTPError, PlatformEmulator, Request
from dagster_labeling.testing.base import DEFAULT_MAX_BODY_BYTES
from dagster_labeling.testing.pytest_plugin import ScaleEmulatorHandle, fresh_platform

KEY = "toy-SECRET-key-0123"
IDLE_SECONDS = 0.3
# Guards against hanging for ever when the server does not answer or close; never reached when it does.
SOCKET_TIMEOUT_SECONDS = 10


class ToyEmulator(PlatformEmulator):
    name = "toy"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.items: dict[str, Any] = {}
        self.router.add("PUT", "/items/{name}", self.put_item)
        self.router.add("GET", "/items/{name}", self.get_item)

    def put_item(self, req: Request) -> Any:
        self.items[req.path_params["name"]] = req.json()
        return {"ok": True}

    def get_item(self, req: Request) -> Any:
        if req.path_params["name"] not in self.items:
            raise HTTPError(404, "no such item")
        return self.items[req.path_params["name"]]

    def error_body(self, status: int, message: str) -> bytes:
        return json.dumps({"detail": message, "code": status}).encode()


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer([ToyEmulator(api_key=KEY)], idle_timeout_seconds=IDLE_SECONDS) as server:
        yield server


@pytest.fixture
def toy(server: EmulatorServer) -> Iterator[ToyEmulator]:
    toy = server.platform("toy")
    assert isinstance(toy, ToyEmulator)
    toy.items.clear()
    toy.request_log.clear()
    yield toy
    toy.max_body_bytes = DEFAULT_MAX_BODY_BYTES
    server.reset("toy")


def _connect(server: EmulatorServer) -> socket.socket:
    sock = socket.create_connection((server.host, server.port), timeout=SOCKET_TIMEOUT_SECONDS)
    sock.settimeout(SOCKET_TIMEOUT_SECONDS)
    return sock


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(v) for k, _, v in (ln.partition(": ") for ln in lines[1:]) if k.lower() == "content-length")
    while len(body) < length:
        body += sock.recv(65536)
    return int(lines[0].split(" ")[1]), body


def _closed_by_server(sock: socket.socket) -> bool:
    """True once the server closes the connection (recv sees EOF); raises TimeoutError if it never does."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def _head(method: str, path: str, extra: str = "") -> bytes:
    return (f"{method} /toy{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\n{extra}\r\n").encode()


# -- 8a: strict JSON -------------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [b'{"score": NaN}', b"[1.5, Infinity]", b'{"a": {"b": -Infinity}}'])
def test_nan_and_infinity_are_not_json_400_with_the_platform_error_body(server: EmulatorServer, toy: ToyEmulator,
                                                                       body: bytes) -> None:
    r = httpx.put(f"{server.platform_url('toy')}/items/a", content=body, headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 400
    assert r.json()["code"] == 400 and "is not valid JSON" in r.json()["detail"]
    assert toy.items == {}


def test_a_platform_emulator_rejects_nan_through_its_own_handlers(scale_emulator: ScaleEmulatorHandle) -> None:
    r = httpx.post(f"{scale_emulator.base_url}/projects", auth=(scale_emulator.api_key, ""),
                   content=b'{"type": "categorization", "name": "p", "params": {"threshold": NaN}}',
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["status_code"] == 400 and "NaN" in r.json()["error"]
    assert scale_emulator.state.projects == {}


# -- 8b: body limit --------------------------------------------------------------------------------------
def test_a_body_declared_over_the_limit_is_413_before_it_is_sent(server: EmulatorServer, toy: ToyEmulator) -> None:
    with _connect(server) as sock:
        declared = DEFAULT_MAX_BODY_BYTES + 1
        sock.sendall(_head("PUT", "/items/a", f"Content-Type: application/json\r\nContent-Length: {declared}\r\n")
                     + b'["only the start of the body')
        status, body = _read_response(sock)  # answered although the body never comes
    assert status == 413
    assert json.loads(body) == {"detail": f"Request body is larger than the limit of {DEFAULT_MAX_BODY_BYTES} bytes",
                                "code": 413}
    assert toy.items == {} and len(toy.request_log) == 0


def test_a_chunked_body_is_413_once_it_passes_the_limit(server: EmulatorServer, toy: ToyEmulator) -> None:
    toy.max_body_bytes = 10_000
    with _connect(server) as sock:
        sock.sendall(_head("PUT", "/items/a", "Transfer-Encoding: chunked\r\n"))
        for _ in range(11):  # 11,000 bytes, and the final chunk never comes
            sock.sendall(b"3e8\r\n" + b" " * 1000 + b"\r\n")
        status, body = _read_response(sock)
    assert status == 413 and json.loads(body)["code"] == 413
    assert toy.items == {}


def test_a_client_sending_too_much_reads_the_413_and_a_body_at_the_limit_passes(server: EmulatorServer,
                                                                                toy: ToyEmulator) -> None:
    toy.max_body_bytes = 100_000
    with httpx.Client(base_url=server.platform_url("toy"), headers={"Authorization": f"Bearer {KEY}"}) as c:
        r = c.put("/items/big", content=b"[" + b"0," * 500_000 + b"0]")
        assert r.status_code == 413 and r.json()["code"] == 413
        at_limit = b'"' + b"a" * (toy.max_body_bytes - 2) + b'"'
        assert c.put("/items/ok", content=at_limit).status_code == 200
        assert c.get("/items/ok").json() == "a" * (toy.max_body_bytes - 2)
    assert set(toy.items) == {"ok"}


def test_a_test_that_lowers_the_body_limit_leaves_it_as_it_was(server: EmulatorServer) -> None:
    with fresh_platform(server, "toy", ()) as state:
        state.max_body_bytes = 10
    assert server.platform("toy").max_body_bytes == DEFAULT_MAX_BODY_BYTES


# -- 8c: idle connections --------------------------------------------------------------------------------
def test_a_connection_that_never_sends_a_request_is_closed(server: EmulatorServer, toy: ToyEmulator) -> None:
    with _connect(server) as sock:
        assert _closed_by_server(sock)


def test_a_connection_stalled_in_its_request_head_is_closed(server: EmulatorServer, toy: ToyEmulator) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /toy/items/a HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert _closed_by_server(sock)


def test_a_request_whose_body_stops_arriving_gets_408_and_is_closed(server: EmulatorServer,
                                                                   toy: ToyEmulator) -> None:
    with _connect(server) as sock:
        sock.sendall(_head("PUT", "/items/a", "Content-Length: 100\r\n") + b'["the first 20 bytes"')
        status, body = _read_response(sock)
        assert status == 408 and json.loads(body)["code"] == 408
        assert _closed_by_server(sock)
    assert toy.items == {}


def test_an_idle_keep_alive_connection_is_closed_after_its_answer(server: EmulatorServer, toy: ToyEmulator) -> None:
    toy.items["a"] = 1
    with _connect(server) as sock:
        sock.sendall(_head("GET", "/items/a"))
        assert _read_response(sock) == (200, b"1")
        sock.sendall(_head("GET", "/items/a"))  # still open for the next request
        assert _read_response(sock) == (200, b"1")
        assert _closed_by_server(sock)


def test_a_request_slower_than_the_idle_timeout_is_answered(server: EmulatorServer, toy: ToyEmulator) -> None:
    server.set_faults("toy", FaultConfig(latency_seconds=IDLE_SECONDS * 3))
    with _connect(server) as sock:
        sock.sendall(_head("PUT", "/items/slow", "Content-Length: 1\r\n") + b"7")
        assert _read_response(sock) == (200, b'{"ok":true}')
    assert toy.items == {"slow": 7}


# -- 8d: no credential in the request log ----------------------------------------------------------------
CREDENTIAL_HEADERS = {
    "x-api-key": "sk-SECRET-1", "x-argilla-api-key": "argilla.SECRET-2", "cookie": "session=SECRET-3",
    "set-cookie": "id=SECRET-4", "proxy-authorization": "Basic U0VDUkVULTU6", "scale-callback-auth": "SECRET-6",
    "webhook-signature": "v1,SECRET-7", "x-refresh-token": "SECRET-8", "x-client-secret": "SECRET-9",
    "x-custom-auth": "SECRET-10", "x-session-key": "SECRET-11", "x-password": "SECRET-12",
}


def test_the_request_log_redacts_every_credential_header_and_query_parameter(server: EmulatorServer,
                                                                             toy: ToyEmulator) -> None:
    toy.items["a"] = 1
    headers = {"Authorization": f"Bearer {KEY}", "X-Request-Id": "rq-1", "Accept": "application/json",
               **CREDENTIAL_HEADERS}
    query = "api_key=SECRET-13&access_token=SECRET-14&key=SECRET-15&next_token=cursor-1&limit=5"
    assert httpx.get(f"{server.platform_url('toy')}/items/a?{query}", headers=headers).status_code == 200
    assert httpx.get(f"{server.platform_url('toy')}/items/a", auth=(KEY, "")).status_code == 200
    bearer, basic = toy.request_log.entries()
    assert bearer.headers["authorization"] == "Bearer <redacted>"
    assert basic.headers["authorization"] == "Basic <redacted>"
    assert {name: bearer.headers[name] for name in CREDENTIAL_HEADERS} == {
        **dict.fromkeys(CREDENTIAL_HEADERS, "<redacted>"), "proxy-authorization": "Basic <redacted>"}
    assert bearer.headers["x-request-id"] == "rq-1" and bearer.headers["accept"] == "application/json"
    assert bearer.query == "api_key=<redacted>&access_token=<redacted>&key=<redacted>&next_token=cursor-1&limit=5"
    for entry in (bearer, basic):
        assert KEY not in repr(entry) and "SECRET" not in repr(entry)
