"""The plug-in point: a toy platform mounted next to Scale, raw-path routing, its own error body."""

import json
from typing import Any

import httpx
import pytest

from dagster_labeling.testing import (
    EmulatorServer,
    FaultConfig,
    HTTPError,
    ManualClock,
    PlatformEmulator,
    Request,
    Router,
    ScaleEmulator,
)


class ToyEmulator(PlatformEmulator):
    name = "toy"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.ticks: list[float] = []
        self.items: dict[str, Any] = {}
        self.router.add("GET", "/items/{name}", self.get_item)
        self.router.add("PUT", "/items/{name}", self.put_item)

    def get_item(self, req: Request) -> Any:
        name = req.path_params["name"]
        if name not in self.items:
            raise HTTPError(404, f"no item {name}")
        return {"name": name, "value": self.items[name], "q": req.q_all("x")}

    def put_item(self, req: Request) -> Any:
        self.items[req.path_params["name"]] = req.json()
        return {"ok": True}

    def tick(self, now: float) -> None:
        self.ticks.append(now)

    def error_body(self, status: int, message: str) -> bytes:
        return json.dumps({"detail": message, "code": status}).encode()


def test_router_splits_raw_path_before_decoding() -> None:
    router = Router()
    router.add("GET", "/v1/batches/{name}", lambda r: "batch")
    router.add("GET", "/v1/batches/{name}/status", lambda r: "status")
    handler, params = router.match("GET", "/v1/batches/batch%2F02%20special/status")
    assert params == {"name": "batch/02 special"} and handler(None) == "status"  # type: ignore[arg-type]
    with pytest.raises(HTTPError) as err:
        router.match("GET", "/v1/batches/a/b/c")
    assert err.value.status == 404
    with pytest.raises(HTTPError) as err:
        router.match("POST", "/v1/batches/x")
    assert err.value.status == 405


def test_custom_platform_mounts_ticks_and_uses_its_error_body() -> None:
    clock = ManualClock()
    toy = ToyEmulator(api_key="k", clock=clock)
    with EmulatorServer([toy, ScaleEmulator(api_key="k", clock=clock)], tick_interval=0.01) as server:
        base = server.platform_url("toy")
        assert base.endswith("/toy") and server.platform_url("scale").endswith("/scale")
        with httpx.Client(base_url=base, headers={"Authorization": "Bearer k"}) as c:
            assert c.put("/items/a%2Fb", json=[1, 2]).json() == {"ok": True}
            assert c.get("/items/a%2Fb?x=1&x=2").json() == {"name": "a/b", "value": [1, 2], "q": ["1", "2"]}
            assert c.get("/items/zzz").json() == {"detail": "no item zzz", "code": 404}
            assert httpx.get(f"{base}/items/a%2Fb").status_code == 401
            server.set_faults("toy", FaultConfig(rate=1.0, weights={"503": 1}))
            r = c.get("/items/a%2Fb")
            assert r.status_code == 503 and r.json()["code"] == 503
            assert server.fault_counters("toy")["503"] == 1
            assert server.fault_counters("scale") == {}  # faults are per platform
        assert [e.path for e in toy.request_log] == ["/items/a%2Fb"] * 2 + ["/items/zzz", "/items/a%2Fb"]
        assert toy.request_log.entries()[0].query == "" and toy.request_log.entries()[1].query == "x=1&x=2"
        assert httpx.get(f"{server.url}/healthz").json()["platforms"]["toy"] == base
        assert toy.ticks and toy.ticks[-1] == clock.now()
