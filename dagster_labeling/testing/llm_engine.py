"""A stateful Scale LLM Engine emulator on the wire API of ``scale-llm-engine`` 0.0.0b45 (see llmengine.md).

Mounted at ``/llm-engine``: point the SDK at it with ``LLM_ENGINE_BASE_PATH=<server>/llm-engine/`` (the
trailing ``/`` matters to the SDK). Behaviour worth knowing:

* Auth: the key as HTTP Basic username, as Bearer, or as ``x-api-key``; errors are ``{"detail": ...}``.
* Fine-tunes go PENDING → RUNNING → SUCCESS over simulated time (``fine_tune_pending_seconds``, then
  ``fine_tune_epoch_seconds`` per epoch, scaled by the clock), logging a falling train and eval loss per
  epoch; on success the model ``<base>.<suffix>.<yymmdd-hhmmss>`` appears among the endpoints.
* Completions are deterministic (hash of model and prompt), with token counts; streams are SSE framed
  as the service does (``data: {json}\\r\\n\\r\\n``, last event ``finished: true``, no ``[DONE]``);
  ``stream_error_after_tokens`` makes streams carry an in-band error.
* Batch jobs go queued → running → completed over ``batch_seconds``; results are written as a JSON list
  to ``output_data_path`` when it is a local path or ``file://`` URL, and kept in ``batch_outputs``.
* Canceling a fine-tune or batch job takes ``cancel_seconds`` (simulated) to take effect: until then it keeps
  its status (and no longer progresses). Then it is ``CANCELLED``/``cancelled``, or, with
  ``canceled_jobs_vanish``, deleted as model-engine does (it deletes the Kubernetes job): reading it answers 404
  and listings leave it out.
* ``fine_tune_quota`` (None: no limit) refuses a fine-tune, as model-engine does (with 5), once pending or running
  fine-tunes plus fine-tuned endpoints reach it.
* Listings (files, fine-tunes, events, endpoints) are not paged, as in the real API.
"""

import asyncio
import email.parser
import email.policy
import hashlib
import itertools
import json
import math
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dagster_labeling.testing.base import (
    DEFAULT_API_KEY,
    HTTPError,
    PlatformEmulator,
    RawResponse,
    Request,
    parse_auth_key,
    register_platform,
)
from dagster_labeling.testing.clock import Clock
from dagster_labeling.testing.faults import Receive, Scope, Send

BASE_MODELS = ("llama-2-7b", "llama-2-13b", "llama-2-70b", "mistral-7b", "mixtral-8x7b", "codellama-7b",
               "falcon-7b", "mpt-7b")
VOCAB = ("the model answers with a short and helpful reply about data labels quality training prompt "
         "response sky blue because light scatters more in shorter wavelengths").split()
STREAM_PATH = "/v1/llm/completions-stream"
_FT_TERMINAL = frozenset({"SUCCESS", "FAILURE", "CANCELLED", "TIMEOUT"})
_BATCH_TERMINAL = frozenset({"completed", "failed", "cancelled"})


def _digest(*parts: str) -> int:
    return int.from_bytes(hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest(), "big")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


def simulate_completion(model: str, prompt: str, max_new_tokens: int, stop: list[str] | None = None) -> list[str]:
    """The emulator's deterministic completion tokens (each with its leading space)."""
    seed = _digest(model, prompt)
    n = max(1, min(max_new_tokens, 3 + seed % 14))
    tokens = [" " + VOCAB[(seed + i * 7919) % len(VOCAB)] for i in range(n)]
    if stop:
        text = ""
        for i, tok in enumerate(tokens):
            text += tok
            if any(s in text for s in stop):
                return tokens[: i + 1]
    return tokens


class LLMEngineEmulator(PlatformEmulator):
    """LLM Engine: files, fine-tunes, model endpoints, completions (sync, SSE), batch completions."""

    name = "llm-engine"

    def __init__(self, *, api_key: str = DEFAULT_API_KEY, clock: Clock | None = None,
                 fine_tune_pending_seconds: float = 1.0, fine_tune_epoch_seconds: float = 2.0,
                 batch_seconds: float = 2.0, stream_token_delay_seconds: float = 0.0,
                 cancel_seconds: float = 0.0, canceled_jobs_vanish: bool = False,
                 fine_tune_quota: int | None = None) -> None:
        super().__init__(api_key=api_key, clock=clock)
        self.fine_tune_pending_seconds = fine_tune_pending_seconds
        self.fine_tune_epoch_seconds = fine_tune_epoch_seconds
        self.batch_seconds = batch_seconds
        self.stream_token_delay_seconds = stream_token_delay_seconds
        self.cancel_seconds = cancel_seconds
        self.canceled_jobs_vanish = canceled_jobs_vanish
        self.fine_tune_quota = fine_tune_quota
        self._knob_defaults = (cancel_seconds, canceled_jobs_vanish, fine_tune_quota)
        self.stream_error_after_tokens: int | None = None
        self.fail_fine_tunes = False
        self._seq = itertools.count(1)
        r = self.router.add
        r("POST", "/v1/llm/completions-sync", self.complete_sync)
        r("POST", "/v1/llm/batch-completions", self.create_batch_v1)
        r("POST", "/v2/batch-completions", self.create_batch_v2)
        r("GET", "/v2/batch-completions/{job_id}", self.get_batch)
        r("POST", "/v2/batch-completions/{job_id}/actions/cancel", self.cancel_batch)
        r("POST", "/v1/llm/fine-tunes", self.create_fine_tune)
        r("GET", "/v1/llm/fine-tunes", self.list_fine_tunes)
        r("GET", "/v1/llm/fine-tunes/{id}", self.get_fine_tune)
        r("GET", "/v1/llm/fine-tunes/{id}/events", self.get_events)
        r("PUT", "/v1/llm/fine-tunes/{id}/cancel", self.cancel_fine_tune)
        r("GET", "/v1/llm/model-endpoints", self.list_models)
        r("POST", "/v1/llm/model-endpoints/download", self.download_model)
        r("GET", "/v1/llm/model-endpoints/{name}", self.get_model)
        r("DELETE", "/v1/llm/model-endpoints/{name}", self.delete_model)
        r("GET", "/_download/{name}/{filename}", self.download_model_file)
        r("POST", "/v1/files", self.upload_file)
        r("GET", "/v1/files", self.list_files)
        r("GET", "/v1/files/{id}", self.get_file)
        r("GET", "/v1/files/{id}/content", self.get_file_content)
        r("DELETE", "/v1/files/{id}", self.delete_file)
        self._clear_state()

    # -- state -----------------------------------------------------------------------------------------
    def _clear_state(self) -> None:
        self.files: dict[str, dict[str, Any]] = {}
        self.file_contents: dict[str, bytes] = {}
        self.fine_tunes: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_outputs: dict[str, list[dict[str, Any]]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {m: self._endpoint(m, base=True) for m in BASE_MODELS}
        self.completions_served = 0

    def reset(self) -> None:
        """Forget files, fine-tunes, batches and fine-tuned models; clear the log; restore defaults (the cancel
        behaviour and the quota to the constructor's)."""
        super().reset()
        with self.lock:
            self._clear_state()
            self.stream_error_after_tokens = None
            self.fail_fine_tunes = False
            self.cancel_seconds, self.canceled_jobs_vanish, self.fine_tune_quota = self._knob_defaults

    def _new_id(self, prefix: str) -> str:
        n = next(self._seq)
        return f"{prefix}{_digest(prefix, str(n), str(id(self))) % 36**12:012x}{n:04d}"[: len(prefix) + 20]

    def _endpoint(self, name: str, base: bool = False) -> dict[str, Any]:
        return {"id": f"end_{_digest(name) % 16**12:012x}", "name": name, "model_name": name,
                "source": "hugging_face", "status": "READY", "inference_framework": "vllm",
                "inference_framework_tag": "0.5.4", "num_shards": 1, "quantize": None, "spec": None,
                "chat_template_override": None, "_base": base}

    def error_body(self, status: int, message: str) -> bytes:
        return json.dumps({"detail": message}).encode()

    def authenticate(self, request: Request) -> None:
        """Basic username, Bearer or ``x-api-key``; presigned download links need none."""
        if request.path.startswith("/_download/"):
            return
        if parse_auth_key(request.headers.get("authorization")) == self.api_key:
            return
        if request.headers.get("x-api-key") == self.api_key:
            return
        raise HTTPError(401, "Could not authenticate user")

    # -- progress --------------------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        with self.lock:
            self._advance_all(now)

    def complete_all(self) -> None:
        """Finish every fine-tune and batch job now (as if their simulated time had passed)."""
        with self.lock:
            self._advance_all(math.inf)

    def _advance_all(self, now: float) -> None:
        for ft_id in list(self.fine_tunes):
            if self._cancel_due(self.fine_tunes, ft_id, "status", "CANCELLED", now):
                self._advance_fine_tune(self.fine_tunes[ft_id], now)
        for job_id in list(self.batches):
            if self._cancel_due(self.batches, job_id, "status", "cancelled", now):
                self._advance_batch(self.batches[job_id], now)

    def _cancel_due(self, jobs: dict[str, dict[str, Any]], job_id: str, field: str, canceled: str,
                    now: float) -> bool:
        """Apply a requested cancel whose time has come; False if the job is gone (deleted by its cancel)."""
        job = jobs[job_id]
        due = job.get("_cancel_at")
        if due is None or now < due:
            return True
        if self.canceled_jobs_vanish:
            del jobs[job_id]
            return False
        job[field] = canceled
        job.pop("_cancel_at")
        return True

    def _request_cancel(self, job: dict[str, Any], field: str, terminal: frozenset[str]) -> dict[str, Any]:
        """``{"success": ...}`` of a cancel: a finished job is left alone; the cancel takes ``cancel_seconds``."""
        if job[field] in terminal:
            return {"success": False}
        job.setdefault("_cancel_at", self.clock.now() + self.clock.scale(self.cancel_seconds))
        return {"success": True}

    def _advance_fine_tune(self, ft: dict[str, Any], now: float) -> None:
        if ft["status"] in _FT_TERMINAL or "_cancel_at" in ft:
            return
        start = ft["created"] + self.clock.scale(self.fine_tune_pending_seconds)
        if now < start:
            return
        ft["status"] = "RUNNING"
        epoch_len = self.clock.scale(self.fine_tune_epoch_seconds)
        done = ft["epochs"] if epoch_len <= 0 or math.isinf(now) else min(ft["epochs"], int((now - start) / epoch_len))
        while ft["epochs_logged"] < done:
            k = ft["epochs_logged"] + 1
            ts = start + k * epoch_len if not math.isinf(now) else self.clock.now()
            jitter = (_digest(ft["id"], str(k)) % 100) / 2000
            loss = round(2.2 * (0.72 ** k) + 0.3 + jitter, 4)
            eval_loss = round(loss * 0.85 + 0.05, 4)
            ft["events"].append({"timestamp": ts, "level": "info",
                                 "message": str({"loss": loss, "learning_rate": 0.0002, "epoch": float(k)})})
            ft["events"].append({"timestamp": ts + 0.5, "level": "info", "message": str(
                {"eval_loss": eval_loss, "eval_runtime": 0.2, "eval_samples_per_second": 24.7, "epoch": float(k)})})
            ft["epochs_logged"] = k
        if done >= ft["epochs"]:
            if self.fail_fine_tunes:
                ft["status"] = "FAILURE"
                ft["events"].append({"timestamp": self.clock.now(), "level": "error",
                                     "message": "Training failed: CUDA out of memory (emulated)"})
                return
            ft["status"] = "SUCCESS"
            stamp = datetime.fromtimestamp(ft["created"], timezone.utc).strftime("%y%m%d-%H%M%S")
            name = ".".join(p for p in (ft["model"], ft["suffix"], stamp) if p)
            ft["fine_tuned_model"] = name
            self.endpoints[name] = self._endpoint(name)

    def _advance_batch(self, job: dict[str, Any], now: float) -> None:
        if job["status"] in _BATCH_TERMINAL or "_cancel_at" in job:
            return
        n = len(job["_prompts"])
        running_at = job["_created"] + self.clock.scale(0.2)
        done_at = job["_created"] + self.clock.scale(self.batch_seconds + 0.0005 * n)
        if now >= done_at:
            cfg = job["_content"]
            outputs = []
            for prompt in job["_prompts"]:
                tokens = simulate_completion(job["model_config"]["model"], prompt, cfg.get("max_new_tokens") or 20,
                                             cfg.get("stop_sequences"))
                outputs.append({"text": "".join(tokens), "num_prompt_tokens": len(prompt.split()),
                                "num_completion_tokens": len(tokens), "tokens": None})
            self.batch_outputs[job["job_id"]] = outputs
            path = job["output_data_path"] or ""
            parsed = urllib.parse.urlparse(path)
            if parsed.scheme in ("", "file") and path:
                target = Path(urllib.parse.unquote(parsed.path) if parsed.scheme else path)
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(json.dumps(outputs))
                except OSError:
                    job["status"] = "failed"
                    return
            job["status"] = "completed"
            job["completed_at"] = _iso(self.clock.now())
        elif now >= running_at:
            job["status"] = "running"

    # -- completions -----------------------------------------------------------------------------------
    def _completion_request(self, req: Request) -> tuple[str, dict[str, Any]]:
        model = req.q("model_endpoint_name")
        if not model:
            raise HTTPError(422, "model_endpoint_name is required")
        if model not in self.endpoints:
            raise HTTPError(404, f"Model endpoint {model} was not found.")
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
            raise HTTPError(422, "prompt is required")
        temperature = body.get("temperature")
        if temperature is not None and not 0 <= temperature <= 1:
            raise HTTPError(422, "temperature must be between 0 and 1")
        max_new = body.get("max_new_tokens")
        if not isinstance(max_new, int) or max_new < 1:
            raise HTTPError(422, "max_new_tokens must be a positive integer")
        return model, body

    def _tokens_json(self, model: str, prompt: str, tokens: list[str]) -> list[dict[str, Any]]:
        return [{"token": t, "log_prob": -round((_digest(model, prompt, str(i)) % 1000) / 400, 4)}
                for i, t in enumerate(tokens)]

    def complete_sync(self, req: Request) -> dict[str, Any]:
        model, body = self._completion_request(req)
        tokens = simulate_completion(model, body["prompt"], body["max_new_tokens"], body.get("stop_sequences"))
        self.completions_served += 1
        output: dict[str, Any] = {"text": "".join(tokens), "num_prompt_tokens": len(body["prompt"].split()),
                                  "num_completion_tokens": len(tokens)}
        if body.get("return_token_log_probs"):
            output["tokens"] = self._tokens_json(model, body["prompt"], tokens)
        return {"request_id": self._request_id(), "output": output}

    def _request_id(self) -> str:
        h = f"{_digest('req', str(next(self._seq))):016x}{_digest('req2', str(id(self))):016x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"

    def stream_events(self, model: str, body: dict[str, Any]) -> list[bytes]:
        """The SSE frames of a streamed completion, as the service frames them."""
        prompt = body["prompt"]
        tokens = simulate_completion(model, prompt, body["max_new_tokens"], body.get("stop_sequences"))
        rid = self._request_id()
        frames = []
        for i, tok in enumerate(tokens):
            if self.stream_error_after_tokens is not None and i >= self.stream_error_after_tokens:
                event: dict[str, Any] = {"request_id": rid, "output": None, "error": {
                    "status_code": 500, "content": {"error": "Internal error while generating (emulated)",
                                                    "timestamp": _iso(self.clock.now())}}}
                frames.append(b"data: " + json.dumps(event).encode() + b"\r\n\r\n")
                return frames
            last = i == len(tokens) - 1
            out = {"text": tok, "finished": last, "num_prompt_tokens": len(prompt.split()) if last else None,
                   "num_completion_tokens": i + 1,
                   "token": self._tokens_json(model, prompt, [tok])[0] if body.get("return_token_log_probs") else None}
            frames.append(b"data: " + json.dumps({"request_id": rid, "output": out, "error": None}).encode()
                          + b"\r\n\r\n")
        return frames

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        root = scope.get("root_path", "")
        if root and raw_path.startswith(root):
            raw_path = raw_path[len(root):] or "/"
        if scope["type"] != "http" or raw_path != STREAM_PATH or scope["method"] != "POST":
            await super().__call__(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body_bytes = b"".join(chunks)
        query = scope.get("query_string", b"").decode("latin-1")
        self.log_request("POST", raw_path, query, scope.get("headers", []), body_bytes)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        request = Request("POST", raw_path, urllib.parse.parse_qsl(query, keep_blank_values=True), headers,
                          body_bytes)
        try:
            self.authenticate(request)
            with self.lock:
                model, body = self._completion_request(request)
                frames = self.stream_events(model, body)
                self.completions_served += 1
        except HTTPError as err:
            payload = self.error_body(err.status, err.message)
            await send({"type": "http.response.start", "status": err.status,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(payload)).encode())]})
            await send({"type": "http.response.body", "body": payload})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-store"),
            (b"x-accel-buffering", b"no")]})
        delay = self.clock.real_seconds(self.stream_token_delay_seconds)
        for frame in frames:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
            if delay > 0:
                await asyncio.sleep(delay)
        await send({"type": "http.response.body", "body": b""})

    # -- batch completions -----------------------------------------------------------------------------
    def _create_batch(self, req: Request, v2: bool) -> dict[str, Any]:
        body = req.json()
        if not isinstance(body, dict):
            raise HTTPError(422, "body must be an object")
        model_config = body.get("model_config") or {}
        model = model_config.get("model")
        if not model:
            raise HTTPError(422, "model_config.model is required")
        if model not in self.endpoints:
            raise HTTPError(404, f"Model {model} was not found.")
        content = body.get("content") or {}
        prompts = content.get("prompts") if isinstance(content, dict) else None
        if not isinstance(prompts, list) or not prompts:
            raise HTTPError(422, "content.prompts must be a non-empty list (input_data_path is not emulated)")
        job_id = self._new_id("batch-")
        now = self.clock.now()
        job = {"job_id": job_id, "input_data_path": body.get("input_data_path"),
               "output_data_path": body.get("output_data_path"),
               "model_config": {k: v for k, v in model_config.items() if v is not None},
               "priority": body.get("priority"), "status": "queued", "created_at": _iso(now),
               "expires_at": _iso(now + 86400), "completed_at": None, "metadata": body.get("labels") or {},
               "_created": now, "_prompts": prompts, "_content": content}
        self.batches[job_id] = job
        return self._batch_json(job) if v2 else {"job_id": job_id}

    @staticmethod
    def _batch_json(job: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in job.items() if not k.startswith("_")}

    def create_batch_v1(self, req: Request) -> dict[str, Any]:
        return self._create_batch(req, v2=False)

    def create_batch_v2(self, req: Request) -> dict[str, Any]:
        return self._create_batch(req, v2=True)

    def _batch(self, job_id: str) -> dict[str, Any]:
        now = self.clock.now()
        if job_id not in self.batches or not self._cancel_due(self.batches, job_id, "status", "cancelled", now):
            raise HTTPError(404, f"Batch completion job {job_id} not found")
        job = self.batches[job_id]
        self._advance_batch(job, now)
        return job

    def get_batch(self, req: Request) -> dict[str, Any]:
        return {"job": self._batch_json(self._batch(req.path_params["job_id"]))}

    def cancel_batch(self, req: Request) -> dict[str, Any]:
        try:
            job = self._batch(req.path_params["job_id"])
        except HTTPError:
            return {"success": False}  # model-engine: a job it cannot find is not canceled, and that is no error
        return self._request_cancel(job, "status", _BATCH_TERMINAL)

    # -- fine-tunes ------------------------------------------------------------------------------------
    def create_fine_tune(self, req: Request) -> dict[str, Any]:
        body = req.json()
        if not isinstance(body, dict):
            raise HTTPError(422, "body must be an object")
        model = body.get("model")
        if model not in self.endpoints or not self.endpoints[model]["_base"]:
            raise HTTPError(400, f"Base model {model} is not available for fine-tuning.")
        for key in ("training_file", "validation_file"):
            ref = body.get(key)
            if ref is None and key == "validation_file":
                continue
            if not isinstance(ref, str) or not (ref in self.files or ref.startswith(("http://", "https://"))):
                raise HTTPError(400, f"{key} {ref!r} is neither an uploaded file id nor an http(s) URL.")
        self._check_quota()
        hyper = body.get("hyperparameters") or {}
        try:
            epochs = int(hyper.get("epochs", 3))
        except (TypeError, ValueError) as exc:
            raise HTTPError(400, f"hyperparameters.epochs must be an integer, got {hyper.get('epochs')!r}") from exc
        if not 1 <= epochs <= 50:
            raise HTTPError(400, "hyperparameters.epochs must be between 1 and 50")
        ft_id = self._new_id("ft-")
        self.fine_tunes[ft_id] = {"id": ft_id, "model": model, "suffix": body.get("suffix"), "status": "PENDING",
                                  "fine_tuned_model": None, "created": self.clock.now(), "epochs": epochs,
                                  "epochs_logged": 0, "events": [], "hyperparameters": hyper,
                                  "training_file": body["training_file"]}
        return {"id": ft_id}

    def _check_quota(self) -> None:
        """model-engine refuses a fine-tune when pending or running fine-tunes plus fine-tuned endpoints reach its
        limit (5 for a non-privileged user), with this 400."""
        if self.fine_tune_quota is None:
            return
        self._advance_all(self.clock.now())
        used = sum(1 for ft in self.fine_tunes.values() if ft["status"] in ("PENDING", "RUNNING")) + \
            sum(1 for ep in self.endpoints.values() if not ep["_base"])
        if used >= self.fine_tune_quota:
            limit = self.fine_tune_quota
            raise HTTPError(400, f"Limit {limit} fine-tunes/fine-tuned endpoints per user. Cancel/delete a total of "
                                 f"{used - limit + 1} pending or running fine-tune(s) or fine-tuned endpoints to run "
                                 "another fine-tune.")

    def _fine_tune(self, ft_id: str) -> dict[str, Any]:
        now = self.clock.now()
        if ft_id not in self.fine_tunes or not self._cancel_due(self.fine_tunes, ft_id, "status", "CANCELLED", now):
            raise HTTPError(404, f"Fine-tune {ft_id} not found")
        ft = self.fine_tunes[ft_id]
        self._advance_fine_tune(ft, now)
        return ft

    @staticmethod
    def _ft_json(ft: dict[str, Any]) -> dict[str, Any]:
        return {"id": ft["id"], "fine_tuned_model": ft["fine_tuned_model"], "status": ft["status"]}

    def get_fine_tune(self, req: Request) -> dict[str, Any]:
        return self._ft_json(self._fine_tune(req.path_params["id"]))

    def list_fine_tunes(self, req: Request) -> dict[str, Any]:
        self._advance_all(self.clock.now())
        return {"jobs": [self._ft_json(ft) for ft in self.fine_tunes.values()]}

    def get_events(self, req: Request) -> dict[str, Any]:
        return {"events": list(self._fine_tune(req.path_params["id"])["events"])}

    def cancel_fine_tune(self, req: Request) -> dict[str, Any]:
        if req.body:
            raise HTTPError(422, "cancel takes no body")
        try:
            ft = self._fine_tune(req.path_params["id"])
        except HTTPError:
            return {"success": False}  # model-engine: a fine-tune it cannot find is not canceled, and that is no error
        return self._request_cancel(ft, "status", _FT_TERMINAL)

    # -- models ----------------------------------------------------------------------------------------
    @staticmethod
    def _endpoint_json(ep: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in ep.items() if not k.startswith("_")}

    def _model(self, name: str) -> dict[str, Any]:
        ep = self.endpoints.get(name)
        if ep is None:
            raise HTTPError(404, f"Model endpoint {name} was not found.")
        return ep

    def get_model(self, req: Request) -> dict[str, Any]:
        return self._endpoint_json(self._model(req.path_params["name"]))

    def list_models(self, req: Request) -> dict[str, Any]:
        return {"model_endpoints": [self._endpoint_json(e) for e in self.endpoints.values()]}

    def delete_model(self, req: Request) -> dict[str, Any]:
        ep = self._model(req.path_params["name"])
        if ep["_base"]:
            raise HTTPError(400, f"Model {ep['name']} is a base model and cannot be deleted.")
        del self.endpoints[ep["name"]]
        return {"deleted": True}

    def download_model(self, req: Request) -> dict[str, Any]:
        body = req.json() or {}
        name = body.get("model_name")
        ep = self._model(str(name))
        if ep["_base"]:
            raise HTTPError(400, f"Model {name} is not a fine-tuned model.")
        host = req.headers.get("host", "127.0.0.1")
        quoted = urllib.parse.quote(str(name), safe="")
        return {"urls": {f: f"http://{host}/{self.name}/_download/{quoted}/{f}"
                         for f in ("config.json", "adapter_model.safetensors")}}

    def download_model_file(self, req: Request) -> RawResponse:
        name, filename = req.path_params["name"], req.path_params["filename"]
        self._model(name)
        data = json.dumps({"model": name, "file": filename}).encode() * 64
        return RawResponse(200, data, {"content-type": "application/octet-stream"})

    # -- files -----------------------------------------------------------------------------------------
    def upload_file(self, req: Request) -> dict[str, Any]:
        ctype = req.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            raise HTTPError(422, "file upload expects multipart/form-data")
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode("latin-1") + req.body)
        for part in msg.iter_parts():
            if part.get_param("name", header="content-disposition") == "file":
                payload = part.get_payload(decode=True)
                data = payload if isinstance(payload, bytes) else b""
                fid = self._new_id("file-")
                self.files[fid] = {"id": fid, "filename": part.get_filename() or "file", "size": len(data)}
                self.file_contents[fid] = data
                return {"id": fid}
        raise HTTPError(422, "Missing multipart part 'file'")

    def _file(self, fid: str) -> dict[str, Any]:
        f = self.files.get(fid)
        if f is None:
            raise HTTPError(404, f"File {fid} not found")
        return f

    def get_file(self, req: Request) -> dict[str, Any]:
        return dict(self._file(req.path_params["id"]))

    def list_files(self, req: Request) -> dict[str, Any]:
        return {"files": [dict(f) for f in self.files.values()]}

    def get_file_content(self, req: Request) -> dict[str, Any]:
        fid = self._file(req.path_params["id"])["id"]
        return {"id": fid, "content": self.file_contents[fid].decode("utf-8", "replace")}

    def delete_file(self, req: Request) -> dict[str, Any]:
        fid = self._file(req.path_params["id"])["id"]
        del self.files[fid]
        self.file_contents.pop(fid, None)
        return {"deleted": True}


register_platform("llm-engine", LLMEngineEmulator)

__all__ = ["BASE_MODELS", "LLMEngineEmulator", "simulate_completion"]
