"""A typed client for Scale LLM Engine (what ``scale-llm-engine``'s ``llmengine`` module covers).

It speaks the SDK's wire format (the key both as ``x-api-key`` and as the Basic username, every completion
parameter sent with ``null`` when unset, only 200 is success, ``PUT`` with no body to cancel a fine-tune,
SSE streams that end on ``finished: true``) and adds what a pipeline needs: validation before sending,
explicit timeouts per call kind, safe retries, typed errors with the service's ``detail``, fine-tunes and
batch completions as job handles, bounded concurrent completions and uploads streamed from disk.

>>> with LLMEngineClient("key", base_url="https://llm.example.invalid/llm-engine") as llm:
...     llm.base_url
'https://llm.example.invalid/llm-engine'
"""

import asyncio
import json
import os
import re
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import httpx
from pydantic import BaseModel, ConfigDict, Field
from tenacity import AsyncRetrying

from dagster_labeling._core import (
    BulkProgress,
    BulkResult,
    ConnectionFailed,
    HttpTransport,
    InvalidInput,
    RetryPolicy,
    Timeouts,
    mask,
    quote_path_segment,
    run_bulk,
)
from dagster_labeling._core.client import HeaderAuth, PlatformClient, basic_auth_header
from dagster_labeling._core.encoding import dumps
from dagster_labeling.llm_engine.errors import LLMEngineStreamError, llm_engine_error_class
from dagster_labeling.llm_engine.handles import BatchCompletionJobHandle, FineTuneJob
from dagster_labeling.llm_engine.models import (
    BatchCompletionJob,
    CompletionChunk,
    CompletionOutput,
    CompletionResponse,
    FileContent,
    FileInfo,
    FineTune,
    FineTuneEvent,
    ModelEndpoint,
)
from dagster_labeling.llm_engine.validation import FINE_TUNABLE_MODELS, completion_body, validate_model_name

DEFAULT_BASE_URL = "https://api.spellbook.scale.com/llm-engine/"
PLATFORM = "LLM Engine"
#: vLLM keys the SDK's batch ``model_config`` always carries (``null`` unless set), in its order.
VLLM_MODEL_CONFIG_KEYS = (
    "max_model_len max_num_seqs enforce_eager trust_remote_code pipeline_parallel_size tensor_parallel_size "
    "quantization disable_log_requests chat_template tool_call_parser enable_auto_tool_choice load_format "
    "config_format tokenizer_mode limit_mm_per_prompt max_num_batched_tokens tokenizer dtype seed revision "
    "code_revision rope_scaling tokenizer_revision quantization_param_path max_seq_len_to_capture "
    "disable_sliding_window skip_tokenizer_init served_model_name override_neuron_config mm_processor_kwargs "
    "block_size gpu_memory_utilization swap_space cache_dtype num_gpu_blocks_override enable_prefix_caching"
).split()
JSON_CONTENT = {"Content-Type": "application/json"}


class CallTimeouts(BaseModel):
    """Read timeouts per kind of call, in seconds (the SDK's defaults, uploads excepted)."""

    model_config = ConfigDict(frozen=True)

    completion: float = Field(default=300.0, gt=0,
                              description="Completions, sync and streaming (per chunk when streaming).")
    batch: float = Field(default=60.0, gt=0, description="Batch-completions calls.")
    management: float = Field(default=10.0, gt=0, description="Fine-tune, model and file metadata calls.")
    file_list: float = Field(default=30.0, gt=0, description="Listing files.")
    file_transfer: float = Field(default=600.0, gt=0, description="Uploading and downloading file content.")


def _llm_engine_auth(api_key: str) -> HeaderAuth:
    """The key as ``x-api-key`` and as HTTP Basic username with an empty password, as ``llmengine`` sends it."""
    return HeaderAuth({"x-api-key": api_key, "Authorization": basic_auth_header(api_key)})


def parse_sse_line(line: str) -> CompletionChunk | None:
    """One line of the stream as a chunk (``None`` for blank, comment, ``event:`` or ``id:`` lines)."""
    if not line.startswith("data:"):
        return None
    payload = line[5:].strip()
    if not payload:
        return None
    return CompletionChunk.model_validate_json(payload)


def _raise_in_band(chunk: CompletionChunk) -> None:
    if chunk.error is not None:
        raise LLMEngineStreamError(
            f"LLM Engine stream error (status {chunk.error.status_code}): {chunk.error.content.error}",
            status_code=chunk.error.status_code, request_id=chunk.request_id, timestamp=chunk.error.content.timestamp,
        )


class LLMEngineClient(PlatformClient):
    """Typed client for LLM Engine. Use as a context manager, or call :meth:`close`.

    ``base_url`` may end with ``/`` or not (the SDK silently drops the last segment without it; we don't).
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeouts: Timeouts | None = None,
        call_timeouts: CallTimeouts | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int = 32,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise InvalidInput(
                "LLM Engine api_key is empty. Set it from the environment, e.g. "
                "LLMEngineResource(api_key=dg.EnvVar('SCALE_API_KEY')).",
                field="api_key",
            )
        self.max_concurrency = max_concurrency
        self.call_timeouts = call_timeouts or CallTimeouts()
        self._api_key = api_key
        self._http = HttpTransport(
            platform=PLATFORM,
            base_url=base_url,
            auth=_llm_engine_auth(api_key),
            secrets=[api_key],  # the redactor also knows its Basic-auth encoding
            timeouts=timeouts,
            retry=retry,
            max_connections=max_concurrency,
            error_class_for=llm_engine_error_class,
            success_statuses=frozenset({200}),
            transport=transport,
        )
        self._async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._async_transport = async_transport
        self._async_clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}

    def __repr__(self) -> str:
        return f"LLMEngineClient(base_url={self._http.base_url!r}, api_key={mask(self._api_key)})"

    # -- plumbing ---------------------------------------------------------------------------------
    def _timeout(self, seconds: float) -> httpx.Timeout:
        t = self._http.timeouts
        return httpx.Timeout(seconds, connect=t.connect, pool=t.pool)

    def _call(self, method: str, path: str, *, seconds: float, body: Any = None, send_body: bool = False,
              params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
              idempotent: bool | None = None, files: Any = None) -> Any:
        response = self._http.request(method, path, params=params, json_body=body, send_json=send_body,
                                      headers=headers, idempotent=idempotent, files=files,
                                      timeout=self._timeout(seconds))
        try:
            return response.json()
        except ValueError:
            return None

    # -- completions ------------------------------------------------------------------------------
    def complete(self, model: str, prompt: str, *, timeout: float | None = None,
                 request_headers: Mapping[str, str] | None = None, **params: Any) -> CompletionResponse:
        """One completion (``POST v1/llm/completions-sync``); ``params`` as :func:`completion_body`.

        A completion changes no remote state, so it is retried on 5xx and network errors too.
        """
        validate_model_name(model)
        body = completion_body(prompt, **params)
        raw = self._call("POST", "v1/llm/completions-sync", params={"model_endpoint_name": model}, body=body,
                         headers=request_headers, idempotent=True,
                         seconds=timeout or self.call_timeouts.completion)
        return CompletionResponse.model_validate(raw)

    def stream_completion(self, model: str, prompt: str, *, timeout: float | None = None,
                          request_headers: Mapping[str, str] | None = None,
                          **params: Any) -> Iterator[CompletionChunk]:
        """Stream a completion as typed chunks; the last one has ``output.finished``.

        An error sent in-band raises :class:`LLMEngineStreamError`; a connection broken mid-stream raises
        :class:`~dagster_labeling.ConnectionFailed`. Before the first byte, 429/5xx and connection errors
        are retried per the retry policy; never after.
        """
        validate_model_name(model)
        body = completion_body(prompt, **params)
        path = "v1/llm/completions-stream"
        response = self._http.request(
            "POST", path, params={"model_endpoint_name": model}, json_body=body,
            headers={"Accept": "text/event-stream", **(request_headers or {})}, idempotent=True, stream=True,
            timeout=self._timeout(timeout or self.call_timeouts.completion))
        return self._iter_stream(response, path)

    def _iter_stream(self, response: httpx.Response, path: str) -> Iterator[CompletionChunk]:
        try:
            for line in response.iter_lines():
                chunk = parse_sse_line(line)
                if chunk is None:
                    continue
                _raise_in_band(chunk)
                yield chunk
                if chunk.output is not None and chunk.output.finished:
                    return
        except httpx.TransportError as exc:
            raise self._connection_failed(path, exc, 1, mid_stream=True) from None
        finally:
            response.close()

    def _connection_failed(self, path: str, exc: Exception, attempts: int,
                           mid_stream: bool = False) -> ConnectionFailed:
        where = "the stream broke before it finished" if mid_stream else "the connection failed"
        return ConnectionFailed(
            self._http.redactor.redact(f"{PLATFORM} POST {path}: {where}: {type(exc).__name__}: {exc}"),
            platform=PLATFORM, method="POST", path=path, attempts=attempts)

    def complete_many(
        self,
        model: str,
        prompts: Mapping[str, str] | Sequence[str],
        *,
        concurrency: int | None = None,
        on_progress: Any = None,
        **params: Any,
    ) -> BulkResult[CompletionResponse]:
        """Many completions at once (bounded by ``concurrency``, default ``max_concurrency``), keyed.

        ``prompts`` is ``{key: prompt}`` or a list (keys ``"0"``, ``"1"``…). Failures are collected per key.
        Every prompt is validated before the first request.

        >>> # llm.complete_many("llama-2-7b", {"a": "Hi", "b": "Bye"}, max_new_tokens=5).succeeded["a"].output.text
        """
        validate_model_name(model)
        items = list(prompts.items()) if isinstance(prompts, Mapping) else [(str(i), p) for i, p in
                                                                             enumerate(prompts)]
        for key, prompt in items:
            try:
                completion_body(prompt, **params)
            except InvalidInput as exc:
                raise InvalidInput(f"prompt {key!r}: {exc}", field=exc.field) from None
        return run_bulk(items, lambda _key, prompt: self.complete(model, prompt, **params),
                        concurrency=concurrency or self.max_concurrency, on_progress=on_progress)

    # -- async ----------------------------------------------------------------------------------
    def _async_client(self) -> httpx.AsyncClient:
        """The pooled async client of the running event loop (connections belong to a loop), made on first use.

        Its pool holds ``max_concurrency`` connections; ``async_transport`` replaces the network (tests, proxies).
        """
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            for old in [old for old in self._async_clients if old.is_closed()]:
                del self._async_clients[old]  # its loop is gone, and with it its connections
            limits = httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency)
            client = self._async_clients[loop] = httpx.AsyncClient(
                auth=_llm_engine_auth(self._api_key), timeout=self._http.timeouts.to_httpx(), limits=limits,
                headers={"User-Agent": self._http.client.headers["User-Agent"]}, transport=self._async_transport)
        return client

    async def aclose(self) -> None:
        """Close the async connection pool of the running event loop (``async with`` does it)."""
        client = self._async_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    def close(self) -> None:
        """Close the connection pool; async pools not closed with :meth:`aclose` are dropped with their loops."""
        self._async_clients.clear()
        super().close()

    async def __aenter__(self) -> "LLMEngineClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
        self.close()

    async def _asend(self, request: httpx.Request, path: str, *, stream: bool) -> httpx.Response:
        """Send a completion ``request`` with the transport's retry policy; returns the 200 response.

        A completion creates nothing remote, so, as in :meth:`complete`, 429, 5xx and connection errors
        (also a body broken mid-way) are retried, Retry-After honoured up to the cap. With ``stream`` the
        response is returned unread as soon as its status arrives: a stream is retried only before its first
        byte. Other errors raise the transport's typed error at once.
        """
        http = self._http
        client = self._async_client()

        async def attempt() -> httpx.Response:
            response = await client.send(request, stream=True)
            if response.status_code == 200 and stream:
                return response
            try:
                await response.aread()
            finally:
                await response.aclose()
            if response.status_code == 200:
                return response
            raise http.error_from_response("POST", path, response)

        retrying = AsyncRetrying(sleep=self._async_sleep, **http.retry_rules("POST", path, safe_to_repeat=True))
        try:
            return await retrying(attempt)
        except httpx.TransportError as exc:
            raise self._connection_failed(path, exc, retrying.statistics.get("attempt_number", 1)) from None

    async def acomplete(self, model: str, prompt: str, *, timeout: float | None = None,
                        request_headers: Mapping[str, str] | None = None, **params: Any) -> CompletionResponse:
        """Async :meth:`complete`, on a pooled connection of the running loop; retried as :meth:`complete` is.

        >>> # async with LLMEngineClient(key) as llm: await llm.acomplete("llama-2-7b", "Hi", max_new_tokens=5)
        """
        validate_model_name(model)
        body = completion_body(prompt, **params)
        path = "v1/llm/completions-sync"
        request = self._async_client().build_request(
            "POST", self._http.url(path), params={"model_endpoint_name": model}, content=dumps(body),
            headers={**JSON_CONTENT, **(request_headers or {})},
            timeout=self._timeout(timeout or self.call_timeouts.completion))
        response = await self._asend(request, path, stream=False)
        return CompletionResponse.model_validate(response.json())

    async def astream_completion(self, model: str, prompt: str, *, timeout: float | None = None,
                                 request_headers: Mapping[str, str] | None = None,
                                 **params: Any) -> AsyncIterator[CompletionChunk]:
        """Async :meth:`stream_completion`; retried as it is, only before the first byte."""
        validate_model_name(model)
        body = completion_body(prompt, **params)
        path = "v1/llm/completions-stream"
        request = self._async_client().build_request(
            "POST", self._http.url(path), params={"model_endpoint_name": model}, content=dumps(body),
            headers={**JSON_CONTENT, "Accept": "text/event-stream", **(request_headers or {})},
            timeout=self._timeout(timeout or self.call_timeouts.completion))
        response = await self._asend(request, path, stream=True)
        try:
            async for line in response.aiter_lines():
                chunk = parse_sse_line(line)
                if chunk is None:
                    continue
                _raise_in_band(chunk)
                yield chunk
                if chunk.output is not None and chunk.output.finished:
                    return
        except httpx.TransportError as exc:
            raise self._connection_failed(path, exc, 1, mid_stream=True) from None
        finally:
            await response.aclose()

    # -- batch completions ------------------------------------------------------------------------
    def create_batch_completions(
        self,
        model: str,
        prompts: Sequence[str],
        *,
        output_data_path: str,
        checkpoint_path: str | None = None,
        num_shards: int = 1,
        max_context_length: int | None = None,
        seed: int | None = None,
        response_role: str | None = None,
        model_labels: Mapping[str, str] | None = None,
        input_data_path: str | None = None,
        labels: Mapping[str, str] | None = None,
        data_parallelism: int = 1,
        max_runtime_sec: int = 86400,
        priority: str | None = None,
        tool_config: Mapping[str, Any] | None = None,
        cpus: int | str | None = None,
        gpus: int | None = None,
        memory: str | None = None,
        gpu_type: str | None = None,
        storage: str | None = None,
        nodes_per_worker: int | None = None,
        vllm_args: Mapping[str, Any] | None = None,
        use_v2: bool = False,
        request_headers: Mapping[str, str] | None = None,
        max_new_tokens: int = 20,
        temperature: float = 0.2,
        stop_sequences: Sequence[str] | None = None,
        return_token_log_probs: bool | None = False,
        presence_penalty: float | None = None,
        frequency_penalty: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        skip_special_tokens: bool | None = True,
    ) -> BatchCompletionJobHandle:
        """Start a batch-completions job (``POST v1/llm/batch-completions``, or ``v2/...`` with ``use_v2``).

        The body is the SDK's: v1 sends ``labels: {}`` at the top (labels travel in ``model_config``); v2
        sends ``labels`` or else the model labels. Results land in ``output_data_path`` as a JSON list of
        outputs in prompt order (see :meth:`read_batch_output`).
        """
        validate_model_name(model)
        if not prompts:
            raise InvalidInput("prompts is empty: a batch needs at least one prompt.", field="prompts")
        if not output_data_path:
            raise InvalidInput("output_data_path is required (where the service writes the results).",
                               field="output_data_path")
        unknown = set(vllm_args or {}) - set(VLLM_MODEL_CONFIG_KEYS)
        if unknown:
            raise InvalidInput(f"Unknown vllm_args {sorted(unknown)}; known: {', '.join(VLLM_MODEL_CONFIG_KEYS)}.",
                               field="vllm_args")
        content = completion_body(
            prompts[0], max_new_tokens=max_new_tokens, temperature=temperature, stop_sequences=stop_sequences,
            return_token_log_probs=return_token_log_probs, presence_penalty=presence_penalty,
            frequency_penalty=frequency_penalty, top_k=top_k, top_p=top_p, skip_special_tokens=skip_special_tokens)
        for i, p in enumerate(prompts):
            if not isinstance(p, str) or not p:
                raise InvalidInput(f"prompts[{i}] must be a non-empty string, got {p!r}.", field="prompts")
        for key in ("prompt", "include_stop_str_in_output", "guided_json", "guided_regex", "guided_choice",
                    "guided_grammar"):
            content.pop(key)
        model_config: dict[str, Any] = dict.fromkeys(VLLM_MODEL_CONFIG_KEYS)
        model_config["trust_remote_code"] = False
        model_config.update(vllm_args or {})
        model_config.update({"model": model, "checkpoint_path": checkpoint_path, "num_shards": num_shards,
                             "max_context_length": max_context_length, "seed": seed,
                             "response_role": response_role, "labels": dict(model_labels or {})})
        body = {
            "input_data_path": input_data_path,
            "output_data_path": output_data_path,
            "labels": dict(labels or model_labels or {}) if use_v2 else {},
            "data_parallelism": data_parallelism,
            "max_runtime_sec": max_runtime_sec,
            "priority": priority,
            "tool_config": dict(tool_config) if tool_config is not None else None,
            "cpus": str(cpus) if cpus is not None else None,
            "gpus": gpus,
            "memory": memory,
            "gpu_type": gpu_type,
            "storage": storage,
            "nodes_per_worker": nodes_per_worker,
            "content": {"prompts": list(prompts), **content},
            "model_config": model_config,
        }
        path = "v2/batch-completions" if use_v2 else "v1/llm/batch-completions"
        raw = self._call("POST", path, body=body, headers=request_headers, seconds=self.call_timeouts.batch)
        handle = BatchCompletionJobHandle(self, str(raw["job_id"]))
        if use_v2:
            handle.job = BatchCompletionJob.model_validate(raw)
        return handle

    def get_batch_completion(self, job_id: str) -> BatchCompletionJob:
        """``GET v2/batch-completions/{id}`` (the answer's ``job``)."""
        raw = self._call("GET", f"v2/batch-completions/{quote_path_segment(job_id)}",
                         seconds=self.call_timeouts.batch)
        return BatchCompletionJob.model_validate(raw.get("job", raw) if isinstance(raw, dict) else raw)

    def cancel_batch_completion(self, job_id: str) -> bool:
        """``POST v2/batch-completions/{id}/actions/cancel`` with ``{}``; True if the service canceled it."""
        raw = self._call("POST", f"v2/batch-completions/{quote_path_segment(job_id)}/actions/cancel", body={},
                         send_body=True, idempotent=True, seconds=self.call_timeouts.batch)
        return bool((raw or {}).get("success"))

    def batch_completion_job(self, job_id: str) -> BatchCompletionJobHandle:
        return BatchCompletionJobHandle(self, job_id)

    @staticmethod
    def read_batch_output(output_data_path: str) -> list[CompletionOutput]:
        """Read a finished batch's results from a local path or ``file://`` URL (read object stores yourself)."""
        parsed = urllib.parse.urlparse(output_data_path)
        if parsed.scheme not in ("", "file"):
            raise InvalidInput(
                f"read_batch_output reads local paths and file:// URLs, not {parsed.scheme}://; fetch the JSON "
                "yourself (e.g. with fsspec) and parse it with CompletionOutput.model_validate.",
                field="output_data_path")
        path = urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else output_data_path
        with open(path, encoding="utf-8") as fh:
            return [CompletionOutput.model_validate(item) for item in json.load(fh)]

    # -- fine-tunes -------------------------------------------------------------------------------
    def create_fine_tune(
        self,
        model: str,
        training_file: str,
        *,
        validation_file: str | None = None,
        hyperparameters: Mapping[str, str | int | float] | None = None,
        wandb_config: Mapping[str, Any] | None = None,
        suffix: str | None = None,
        allow_unknown_model: bool = False,
    ) -> FineTuneJob:
        """Start a fine-tune of ``model`` on a file id (``file-…``) or a public http(s) CSV URL.

        An unknown base model is refused before sending unless ``allow_unknown_model``.
        """
        validate_model_name(model)
        if not allow_unknown_model and model not in FINE_TUNABLE_MODELS:
            raise InvalidInput(
                f"Unknown base model {model!r} for fine-tuning. Use one of: {', '.join(sorted(FINE_TUNABLE_MODELS))}"
                " or pass allow_unknown_model=True.", field="model")
        for field, value in (("training_file", training_file), ("validation_file", validation_file)):
            if value is None and field == "validation_file":
                continue
            if not isinstance(value, str) or not (value.startswith(("file-", "http://", "https://"))):
                raise InvalidInput(
                    f"{field} must be an uploaded file id ('file-…', see upload_file) or a public http(s) URL to "
                    f"a CSV with prompt and response columns, got {value!r}.", field=field)
        if suffix is not None and not re.fullmatch(r"[a-z0-9-]{1,28}", suffix):
            raise InvalidInput(f"suffix must be 1-28 lowercase letters, digits or '-', got {suffix!r}.",
                               field="suffix")
        body = {"model": model, "training_file": training_file, "validation_file": validation_file,
                "hyperparameters": dict(hyperparameters or {}), "wandb_config": wandb_config, "suffix": suffix}
        raw = self._call("POST", "v1/llm/fine-tunes", body=body, seconds=self.call_timeouts.management)
        epochs = (hyperparameters or {}).get("epochs")
        return FineTuneJob(self, str(raw["id"]), epochs=int(epochs) if epochs is not None else None)

    def fine_tune_job(self, fine_tune_id: str, *, epochs: int | None = None) -> FineTuneJob:
        return FineTuneJob(self, fine_tune_id, epochs=epochs)

    def get_fine_tune(self, fine_tune_id: str) -> FineTune:
        return FineTune.model_validate(self._call("GET", f"v1/llm/fine-tunes/{quote_path_segment(fine_tune_id)}",
                                                  seconds=self.call_timeouts.management))

    def list_fine_tunes(self) -> list[FineTune]:
        raw = self._call("GET", "v1/llm/fine-tunes", seconds=self.call_timeouts.management)
        return [FineTune.model_validate(j) for j in (raw or {}).get("jobs", [])]

    def get_fine_tune_events(self, fine_tune_id: str) -> list[FineTuneEvent]:
        raw = self._call("GET", f"v1/llm/fine-tunes/{quote_path_segment(fine_tune_id)}/events",
                         seconds=self.call_timeouts.management)
        return [FineTuneEvent.model_validate(e) for e in (raw or {}).get("events", [])]

    def cancel_fine_tune(self, fine_tune_id: str) -> bool:
        """``PUT v1/llm/fine-tunes/{id}/cancel`` with no body; True if the service canceled it."""
        raw = self._call("PUT", f"v1/llm/fine-tunes/{quote_path_segment(fine_tune_id)}/cancel",
                         seconds=self.call_timeouts.management)
        return bool((raw or {}).get("success"))

    # -- models -----------------------------------------------------------------------------------
    def get_model(self, model: str) -> ModelEndpoint:
        name = validate_model_name(model)
        return ModelEndpoint.model_validate(self._call("GET", f"v1/llm/model-endpoints/{name}",
                                                       seconds=self.call_timeouts.management))

    def list_models(self) -> list[ModelEndpoint]:
        raw = self._call("GET", "v1/llm/model-endpoints", seconds=self.call_timeouts.management)
        return [ModelEndpoint.model_validate(m) for m in (raw or {}).get("model_endpoints", [])]

    def delete_model(self, model: str) -> bool:
        name = validate_model_name(model)
        raw = self._call("DELETE", f"v1/llm/model-endpoints/{name}", seconds=self.call_timeouts.management)
        return bool((raw or {}).get("deleted"))

    def download_model(self, model_name: str, download_format: str = "hugging_face", *,
                       to_folder: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """The model's files as ``{filename: presigned URL}``; with ``to_folder``, also stream each file there."""
        validate_model_name(model_name, "model_name")
        raw = self._call("POST", "v1/llm/model-endpoints/download",
                         body={"model_name": model_name, "download_format": download_format},
                         seconds=self.call_timeouts.management)
        urls: dict[str, str] = dict((raw or {}).get("urls", {}))
        if to_folder is not None:
            folder = Path(to_folder)
            folder.mkdir(parents=True, exist_ok=True)
            for filename, url in urls.items():
                target = folder / Path(filename).name
                # Presigned URLs carry their own authorization: send no API key to them.
                with httpx.stream("GET", url, timeout=self._timeout(self.call_timeouts.file_transfer)) as r:
                    if r.status_code != 200:
                        r.read()
                        raise self._http.error_from_response("GET", f"<download of {filename}>", r)
                    with open(target, "wb") as fh:
                        for block in r.iter_bytes(1 << 20):
                            fh.write(block)
        return urls

    # -- files ------------------------------------------------------------------------------------
    def upload_file(self, file: str | os.PathLike[str] | IO[bytes], *, filename: str | None = None) -> str:
        """Upload a file (private to the account) and return its id; streamed, never read whole into memory."""
        if isinstance(file, (str, os.PathLike)):
            path = Path(file)
            if not path.is_file():
                raise InvalidInput(f"upload_file: {path} is not a file.", field="file")
            with open(path, "rb") as handle:
                return self._upload(handle, filename or path.name)
        name = filename or Path(str(getattr(file, "name", "upload.csv"))).name
        return self._upload(file, name)

    def _upload(self, handle: IO[bytes], filename: str) -> str:
        raw = self._call("POST", "v1/files", files={"file": (filename, handle)},
                         seconds=self.call_timeouts.file_transfer)
        return str(raw["id"])

    def get_file(self, file_id: str) -> FileInfo:
        return FileInfo.model_validate(self._call("GET", f"v1/files/{quote_path_segment(file_id)}",
                                                  seconds=self.call_timeouts.management))

    def download_file(self, file_id: str) -> FileContent:
        """The file's content as a string (``GET v1/files/{id}/content``)."""
        return FileContent.model_validate(self._call("GET", f"v1/files/{quote_path_segment(file_id)}/content",
                                                     seconds=self.call_timeouts.file_transfer))

    def list_files(self) -> list[FileInfo]:
        raw = self._call("GET", "v1/files", seconds=self.call_timeouts.file_list)
        return [FileInfo.model_validate(f) for f in (raw or {}).get("files", [])]

    def delete_file(self, file_id: str) -> bool:
        raw = self._call("DELETE", f"v1/files/{quote_path_segment(file_id)}", seconds=self.call_timeouts.management)
        return bool((raw or {}).get("deleted"))


__all__ = [
    "DEFAULT_BASE_URL", "FINE_TUNABLE_MODELS", "BulkProgress", "CallTimeouts", "LLMEngineClient", "completion_body",
    "parse_sse_line", "validate_model_name",
]
