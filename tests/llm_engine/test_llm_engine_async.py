"""The async completion path: the same retry rule as the sync one, a pooled client per loop, typed errors."""

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dagster_labeling._core import ConnectionFailed, InvalidInput, RetryPolicy
from dagster_labeling.llm_engine import (
    LLMEngineBadRequest,
    LLMEngineClient,
    LLMEngineNotFound,
)
from dagster_labeling.llm_engine.errors import LLMEngineRateLimited
from dagster_labeling.testing.faults import FaultConfig
from dagster_labeling.testing.pytest_plugin import LLMEngineEmulatorHandle

COMPLETIONS = ["/v1/llm/completions-sync", "/v1/llm/completions-stream"]


@pytest.fixture
def llm(llm_engine_emulator: LLMEngineEmulatorHandle) -> Iterator[LLMEngineClient]:
    with LLMEngineClient(llm_engine_emulator.api_key, base_url=llm_engine_emulator.base_url,
                         retry=RetryPolicy(max_attempts=4, initial_backoff_seconds=0.01,
                                           max_retry_after_seconds=30.0)) as client:
        yield client


def record_sleeps(client: LLMEngineClient, then: Any = None) -> list[float]:
    """Replace the async sleep by a recorder (no real waiting); ``then()`` runs after each sleep."""
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        if then is not None:
            then()

    client._async_sleep = fake_sleep
    return waits


def completion_posts(emu: LLMEngineEmulatorHandle) -> int:
    return emu.fault_counters().get("requests", 0)


async def collect(agen: Any) -> list[Any]:
    return [chunk async for chunk in agen]


def test_acomplete_retries_a_429_honouring_retry_after(llm: LLMEngineClient,
                                                       llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    llm_engine_emulator.set_faults(FaultConfig(rate=1.0, weights={"429": 1.0}, retry_after_seconds=7,
                                               methods=["POST"], path_prefixes=COMPLETIONS))
    waits = record_sleeps(llm, then=lambda: llm_engine_emulator.set_faults(None))
    response = asyncio.run(llm.acomplete("llama-2-7b", "Why is the sky blue?", max_new_tokens=5))
    assert response.output.text
    assert waits == [7.0]  # the server's Retry-After, not the backoff


def test_retry_after_is_capped_and_attempts_are_bounded(llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    llm_engine_emulator.set_faults(FaultConfig(rate=1.0, weights={"429": 1.0}, retry_after_seconds=500,
                                               path_prefixes=COMPLETIONS))
    with LLMEngineClient(llm_engine_emulator.api_key, base_url=llm_engine_emulator.base_url,
                         retry=RetryPolicy(max_attempts=3, max_retry_after_seconds=2.5)) as client:
        waits = record_sleeps(client)
        with pytest.raises(LLMEngineRateLimited) as info:
            asyncio.run(client.acomplete("llama-2-7b", "Hello"))
    assert waits == [2.5, 2.5]
    assert info.value.status_code == 429 and llm_engine_emulator.fault_counters()["429"] == 3


def test_astream_retries_a_429_before_the_first_byte(llm: LLMEngineClient,
                                                     llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    llm_engine_emulator.set_faults(FaultConfig(rate=1.0, weights={"429": 1.0}, retry_after_seconds=0.5,
                                               path_prefixes=COMPLETIONS))
    waits = record_sleeps(llm, then=lambda: llm_engine_emulator.set_faults(None))
    chunks = asyncio.run(collect(llm.astream_completion("llama-2-7b", "Tell me a story", max_new_tokens=6)))
    assert waits == [0.5]
    assert chunks and chunks[-1].output is not None and chunks[-1].output.finished
    expected = llm.complete("llama-2-7b", "Tell me a story", max_new_tokens=6).output.text
    assert "".join(c.output.text for c in chunks if c.output is not None) == expected


@pytest.mark.parametrize("streaming", [False, True])
def test_a_500_on_the_completion_post_is_retried_like_the_sync_path(
        llm: LLMEngineClient, llm_engine_emulator: LLMEngineEmulatorHandle, streaming: bool) -> None:
    """A completion creates nothing remote: async and sync follow one rule (429, 5xx, connection errors)."""
    llm_engine_emulator.set_faults(FaultConfig(rate=1.0, weights={"500": 1.0}, path_prefixes=COMPLETIONS))
    waits = record_sleeps(llm, then=lambda: llm_engine_emulator.set_faults(None))
    call = (collect(llm.astream_completion("llama-2-7b", "Hi", max_new_tokens=4)) if streaming
            else llm.acomplete("llama-2-7b", "Hi", max_new_tokens=4))
    result = asyncio.run(call)
    assert result and len(waits) == 1 and llm_engine_emulator.fault_counters()["500"] == 1
    llm_engine_emulator.set_faults(FaultConfig(rate=1.0, weights={"500": 1.0}, path_prefixes=COMPLETIONS))
    sync_waits: list[float] = []

    def sync_sleep(seconds: float) -> None:
        sync_waits.append(seconds)
        llm_engine_emulator.set_faults(None)

    llm._http._sleep = sync_sleep
    assert llm.complete("llama-2-7b", "Hi", max_new_tokens=4).output.text
    assert len(sync_waits) == 1


def test_a_drop_after_sending_is_retried_and_exhausted_attempts_are_typed(
        llm: LLMEngineClient, llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    llm_engine_emulator.set_faults(FaultConfig(rate=1.0, weights={"drop_before": 1.0}, path_prefixes=COMPLETIONS))
    waits = record_sleeps(llm)
    with pytest.raises(ConnectionFailed) as info:
        asyncio.run(llm.acomplete("llama-2-7b", "Hi"))
    assert len(waits) == 3 and info.value.attempts == 4  # the policy's 4 attempts
    assert llm_engine_emulator.fault_counters()["drop_before"] == 4


def test_one_pooled_client_per_event_loop(llm: LLMEngineClient, llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    async def many() -> set[int]:
        seen = set()
        for _ in range(3):
            await llm.acomplete("llama-2-7b", "Hi", max_new_tokens=2)
            seen.add(id(llm._async_client()))
        results = await asyncio.gather(*(llm.acomplete("llama-2-7b", f"p{i}", max_new_tokens=2) for i in range(40)))
        assert len(results) == 40
        return seen

    assert len(asyncio.run(many())) == 1  # one client (and pool) for every call of a loop
    assert len(asyncio.run(many())) == 1  # a new loop gets its own; the old loop's client is dropped
    assert len(llm._async_clients) == 1
    pool_limit = llm._async_clients[next(iter(llm._async_clients))]._transport._pool._max_connections  # type: ignore[attr-defined]
    assert pool_limit == llm.max_concurrency

    async def closed() -> int:
        async with llm:
            await llm.acomplete("llama-2-7b", "Hi", max_new_tokens=2)
        return len(llm._async_clients)

    assert asyncio.run(closed()) == 0


def test_never_sent_connection_errors_are_retried_then_typed(llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    with LLMEngineClient(llm_engine_emulator.api_key, base_url="http://127.0.0.1:9/llm-engine/",
                         retry=RetryPolicy(max_attempts=3, initial_backoff_seconds=0.01)) as client:
        waits = record_sleeps(client)
        with pytest.raises(ConnectionFailed) as info:
            asyncio.run(client.acomplete("llama-2-7b", "Hi"))
    assert len(waits) == 2 and all(0 < w <= 0.02 for w in waits)  # backoff with jitter from the policy
    assert info.value.attempts == 3


def test_a_400_is_raised_at_once_and_the_key_is_redacted(llm: LLMEngineClient) -> None:
    """Also: ``async_transport`` replaces the network for every async call."""
    key = llm._api_key
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(400, json={"detail": f"prompt rejected for api key {key}"})

    llm = LLMEngineClient(key, base_url=llm.base_url, async_transport=httpx.MockTransport(handler))
    waits = record_sleeps(llm)
    with pytest.raises(LLMEngineBadRequest) as info:
        asyncio.run(llm.acomplete("llama-2-7b", "Hi"))
    assert len(calls) == 1 and waits == []
    error = info.value
    assert error.status_code == 400 and "prompt rejected" in error.message
    assert key not in str(error) and key not in repr(error.body) and key not in error.message


def test_emulator_error_echoing_the_key_is_redacted(llm: LLMEngineClient) -> None:
    key = llm._api_key  # a valid model name: the 404 message echoes it
    for call in (llm.acomplete(key, "Hi"), collect(llm.astream_completion(key, "Hi"))):
        with pytest.raises(LLMEngineNotFound) as info:
            asyncio.run(call)
        assert key not in str(info.value) and key not in repr(info.value.body)


def test_astream_is_not_retried_after_the_first_byte(llm: LLMEngineClient,
                                                     llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    llm_engine_emulator.set_faults(FaultConfig(rate=1.0, weights={"stream_break": 1.0},
                                               path_prefixes=["/v1/llm/completions-stream"]))
    waits = record_sleeps(llm)
    with pytest.raises(ConnectionFailed, match="stream broke"):
        asyncio.run(collect(llm.astream_completion("llama-2-7b", "Tell me a long story", max_new_tokens=20)))
    assert waits == [] and llm_engine_emulator.fault_counters()["stream_break"] == 1


NOT_JSON = [
    pytest.param({"guided_json": {"type": "object", "maxLength": float("nan")}}, "NaN", id="nan-in-guided-json"),
    pytest.param({"guided_json": {"minimum": float("-inf")}}, "minimum is -inf", id="inf-in-guided-json"),
    pytest.param({"temperature": float("nan")}, "temperature", id="nan-temperature"),
    pytest.param({"top_p": float("inf")}, "top_p", id="inf-top-p"),
]


@pytest.mark.parametrize("params, named", NOT_JSON)
def test_nan_or_infinity_in_a_parameter_is_refused_before_sending(
    llm: LLMEngineClient, llm_engine_emulator: LLMEngineEmulatorHandle, params: dict[str, Any], named: str
) -> None:
    """JSON has no NaN or Infinity: no path writes them (httpx's ``json=`` would, on the async path)."""
    sends = [
        lambda: llm.complete("llama-2-7b", "Hi", **params),
        lambda: list(llm.stream_completion("llama-2-7b", "Hi", **params)),
        lambda: asyncio.run(llm.acomplete("llama-2-7b", "Hi", **params)),
        lambda: asyncio.run(collect(llm.astream_completion("llama-2-7b", "Hi", **params))),
    ]
    for send in sends:
        with pytest.raises(InvalidInput, match=named):
            send()
    assert len(llm_engine_emulator.request_log) == 0


def test_async_body_is_the_strict_json_of_the_sync_one(llm: LLMEngineClient,
                                                       llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    llm.complete("llama-2-7b", "Hi ☃", max_new_tokens=3, guided_json={"a": 1.5})
    asyncio.run(llm.acomplete("llama-2-7b", "Hi ☃", max_new_tokens=3, guided_json={"a": 1.5}))
    sync, async_ = list(llm_engine_emulator.request_log)[-2:]
    assert async_.body == sync.body and async_.json() == sync.json()
    assert async_.headers["content-type"] == "application/json"
