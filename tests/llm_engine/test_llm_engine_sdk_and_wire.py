"""The official ``scale-llm-engine`` SDK works unchanged against the emulator, and our client sends what it sends.

Wire parity compares method, raw path, query pairs, JSON body and the auth headers as the emulator logged
them. Legitimate differences: User-Agent, Host, Content-Length, Accept/Accept-Encoding/Connection, the
multipart boundary, and the Content-Type httpx gives the file part of an upload (requests sends none).
"""

import base64
import email.parser
import email.policy
import io
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

os.environ.setdefault("LLM_ENGINE_DISABLE_VERSION_CHECK", "1")

import llmengine
from llmengine import (
    Completion,
    CreateBatchCompletionsModelConfig,
    CreateBatchCompletionsV1RequestContent,
    File,
    FineTune,
    Model,
)
from llmengine.errors import NotFoundError, UnauthorizedError

from dagster_labeling._core import RetryPolicy
from dagster_labeling.llm_engine import LLMEngineClient
from dagster_labeling.testing.base import LoggedRequest
from dagster_labeling.testing.pytest_plugin import LLMEngineEmulatorHandle


@pytest.fixture
def sdk(llm_engine_emulator: LLMEngineEmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> LLMEngineEmulatorHandle:
    monkeypatch.setenv("LLM_ENGINE_BASE_PATH", llm_engine_emulator.base_url)
    monkeypatch.setenv("SCALE_API_KEY", llm_engine_emulator.api_key)
    monkeypatch.setattr(llmengine.api_engine, "api_key", None)
    monkeypatch.setattr(llmengine.api_engine, "_base_path", None, raising=False)
    return llm_engine_emulator


@pytest.fixture
def ours(llm_engine_emulator: LLMEngineEmulatorHandle) -> Iterator[LLMEngineClient]:
    with LLMEngineClient(llm_engine_emulator.api_key, base_url=llm_engine_emulator.base_url,
                         retry=RetryPolicy(max_attempts=1)) as client:
        yield client


def test_sdk_completions_sync_stream_and_errors(sdk: LLMEngineEmulatorHandle) -> None:
    r = Completion.create(model="llama-2-7b", prompt="Hello, my name is", max_new_tokens=10,
                          return_token_log_probs=True)
    assert r.output.num_completion_tokens == len(r.output.tokens) <= 10 and r.output.num_prompt_tokens == 4
    chunks = list(Completion.create(model="llama-2-7b", prompt="Hello, my name is", max_new_tokens=10, stream=True))
    assert chunks[-1].output.finished and not any(c.output.finished for c in chunks[:-1])
    assert "".join(c.output.text for c in chunks) == r.output.text
    with pytest.raises(NotFoundError):
        Completion.create(model="no-such-model", prompt="x")
    entry = sdk.request_log.entries("POST", "/v1/llm/completions-sync")[0]
    assert entry.query == "model_endpoint_name=llama-2-7b" and "x-api-key" in entry.headers  # (redacted in the log)


def test_sdk_wrong_key_is_unauthorized(sdk: LLMEngineEmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCALE_API_KEY", "wrong")
    with pytest.raises(UnauthorizedError):
        Model.list()


def test_sdk_files_fine_tune_models(sdk: LLMEngineEmulatorHandle, tmp_path: Any) -> None:
    path = tmp_path / "train.csv"
    path.write_text("prompt,response\nhi,hello\n")
    with open(path, "rb") as fh:
        fid = File.upload(fh).id
    assert File.get(fid).size == 25 and File.download(fid).content == "prompt,response\nhi,hello\n"
    assert [f.id for f in File.list().files] == [fid]
    ft = FineTune.create(model="llama-2-7b", training_file=fid, hyperparameters={"epochs": 2}, suffix="sdk")
    sdk.state.complete_all()
    got = FineTune.get(ft.id)
    assert got.status == "SUCCESS" and got.fine_tuned_model.startswith("llama-2-7b.sdk.")
    assert [j.id for j in FineTune.list().jobs] == [ft.id]
    assert len(FineTune.get_events(ft.id).events) == 4
    assert FineTune.cancel(ft.id).success is False  # finished: nothing to cancel
    assert Model.get(got.fine_tuned_model).status == "READY"
    assert got.fine_tuned_model in [m.name for m in Model.list().model_endpoints]
    assert set(Model.download(got.fine_tuned_model).urls) == {"config.json", "adapter_model.safetensors"}
    assert Model.delete(got.fine_tuned_model).deleted
    assert File.delete(fid).deleted
    with pytest.raises(NotFoundError):
        FineTune.get("ft-nope")


def test_sdk_batch_v1_v2_get_cancel(sdk: LLMEngineEmulatorHandle, tmp_path: Any) -> None:
    sdk.state.batch_seconds = 1000
    cfg = CreateBatchCompletionsModelConfig(model="llama-2-7b", checkpoint_path="s3://ckpt", labels={"team": "t"})
    content = CreateBatchCompletionsV1RequestContent(prompts=["What is deep learning"], max_new_tokens=10,
                                                     temperature=0.0)
    v1 = Completion.batch_create(output_data_path=str(tmp_path / "o1.json"), model_config=cfg, content=content)
    v2 = Completion.batch_create(output_data_path=str(tmp_path / "o2.json"), model_config=cfg, content=content,
                                 labels={"team": "t"}, use_v2=True)
    assert v2.status in ("queued", "running")
    assert Completion.get_batch_completion(v1.job_id)["job"]["job_id"] == v1.job_id
    assert Completion.cancel_batch_completion(v2.job_id)["success"] is True
    assert Completion.get_batch_completion(v2.job_id)["job"]["status"] == "cancelled"


# -- wire parity ----------------------------------------------------------------------------------------
def _multipart(entry: LoggedRequest) -> list[tuple[str | None, str | None, bytes]]:
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {entry.headers['content-type']}\r\n\r\n".encode() + entry.body)
    return [(p.get_param("name", header="content-disposition"), p.get_filename(), p.get_payload(decode=True))
            for p in msg.iter_parts()]


def _shape(entry: LoggedRequest) -> dict[str, Any]:
    ctype = entry.headers.get("content-type", "")
    if ctype.startswith("multipart/"):
        body: Any = _multipart(entry)
    else:
        body = entry.json()
    return {"method": entry.method, "path": entry.path, "query": sorted(entry.query.split("&")) if entry.query else [],
            "body": body, "x-api-key": entry.headers.get("x-api-key"),
            "authorization": entry.headers.get("authorization"), "x-custom": entry.headers.get("x-custom"),
            "json": ctype.startswith("application/json")}


def _last_two(emu: LLMEngineEmulatorHandle, sdk_call: Callable[[], Any], our_call: Callable[[], Any]) -> None:
    emu.request_log.clear()
    sdk_call()
    ours_from = len(emu.request_log)
    our_call()
    entries = emu.request_log.entries()
    assert len(entries) == 2 * ours_from, [e.path for e in entries]
    for theirs, mine in zip(entries[:ours_from], entries[ours_from:], strict=True):
        assert _shape(mine) == _shape(theirs)


def test_wire_parity_completions(sdk: LLMEngineEmulatorHandle, ours: LLMEngineClient) -> None:
    _last_two(sdk, lambda: Completion.create(model="llama-2-7b", prompt="Hello", max_new_tokens=10),
              lambda: ours.complete("llama-2-7b", "Hello", max_new_tokens=10, temperature=0.2))
    _last_two(sdk, lambda: Completion.create(model="llama-2-7b", prompt="Pick", max_new_tokens=5, temperature=0.0,
                                             stop_sequences=["\n"], return_token_log_probs=True,
                                             guided_choice=["a", "b"], request_headers={"X-Custom": "1"}),
              lambda: ours.complete("llama-2-7b", "Pick", max_new_tokens=5, temperature=0.0, stop_sequences=["\n"],
                                    return_token_log_probs=True, guided_choice=["a", "b"],
                                    request_headers={"X-Custom": "1"}))
    _last_two(sdk, lambda: list(Completion.create(model="llama-2-7b", prompt="why", max_new_tokens=5, stream=True)),
              lambda: list(ours.stream_completion("llama-2-7b", "why", max_new_tokens=5)))


def test_wire_parity_batch(sdk: LLMEngineEmulatorHandle, ours: LLMEngineClient) -> None:
    sdk.state.batch_seconds = 1000
    cfg = CreateBatchCompletionsModelConfig(model="llama-2-7b", checkpoint_path="s3://ckpt",
                                            labels={"team": "t", "product": "p"})
    content = CreateBatchCompletionsV1RequestContent(prompts=["What is deep learning"], max_new_tokens=10,
                                                     temperature=0.0)
    for v2 in (False, True):
        labels = {"team": "t"} if v2 else None
        _last_two(
            sdk,
            lambda v2=v2, labels=labels: Completion.batch_create(
                output_data_path="s3://bucket/out.json", model_config=cfg, content=content, labels=labels,
                use_v2=v2),
            lambda v2=v2, labels=labels: ours.create_batch_completions(
                "llama-2-7b", ["What is deep learning"], output_data_path="s3://bucket/out.json",
                checkpoint_path="s3://ckpt", model_labels={"team": "t", "product": "p"}, labels=labels,
                max_new_tokens=10, temperature=0.0, use_v2=v2))
    job = ours.create_batch_completions("llama-2-7b", ["x"], output_data_path="s3://b/o.json", use_v2=True)
    _last_two(sdk, lambda: Completion.get_batch_completion(job.id), lambda: ours.get_batch_completion(job.id))
    _last_two(sdk, lambda: Completion.cancel_batch_completion(job.id), lambda: ours.cancel_batch_completion(job.id))


def test_wire_parity_files_fine_tunes_models(sdk: LLMEngineEmulatorHandle, ours: LLMEngineClient,
                                             tmp_path: Any) -> None:
    path = tmp_path / "train.csv"
    path.write_text("prompt,response\nhi,hello\n")
    sdk.request_log.clear()
    with open(path, "rb") as fh:
        File.upload(fh)
    ours.upload_file(path)
    theirs, mine = sdk.request_log.entries()
    assert _shape(theirs) == _shape(mine)
    fid = ours.upload_file(io.BytesIO(b"prompt,response\na,b\n"), filename="t.csv")
    for sdk_call, our_call in [
        (lambda: File.get(fid), lambda: ours.get_file(fid)),
        (lambda: File.list(), lambda: ours.list_files()),
        (lambda: File.download(fid), lambda: ours.download_file(fid)),
    ]:
        _last_two(sdk, sdk_call, our_call)
    sdk.state.fine_tune_pending_seconds = 1000
    ft = ours.create_fine_tune("llama-2-7b", fid, hyperparameters={"lr": 0.0002, "epochs": 1}, suffix="s")
    sdk.request_log.clear()
    FineTune.create(model="llama-2-7b", training_file=fid, hyperparameters={"lr": 0.0002, "epochs": 1}, suffix="s")
    ours.create_fine_tune("llama-2-7b", fid, hyperparameters={"lr": 0.0002, "epochs": 1}, suffix="s")
    theirs, mine = sdk.request_log.entries()
    assert _shape(theirs) == _shape(mine)
    for sdk_call, our_call in [
        (lambda: FineTune.get(ft.id), lambda: ours.get_fine_tune(ft.id)),
        (lambda: FineTune.list(), lambda: ours.list_fine_tunes()),
        (lambda: FineTune.get_events(ft.id), lambda: ours.get_fine_tune_events(ft.id)),
        (lambda: Model.get("llama-2-7b"), lambda: ours.get_model("llama-2-7b")),
        (lambda: Model.list(), lambda: ours.list_models()),
    ]:
        _last_two(sdk, sdk_call, our_call)
    sdk.request_log.clear()
    FineTune.cancel(ft.id)
    ours.cancel_fine_tune(ft.id)
    theirs, mine = sdk.request_log.entries()
    assert theirs.method == mine.method == "PUT" and theirs.body == mine.body == b""
    assert _shape(theirs) == _shape(mine)
    sdk.state.complete_all()
    done = next(j for j in ours.list_fine_tunes() if j.fine_tuned_model)
    name = done.fine_tuned_model or ""
    _last_two(sdk, lambda: Model.download(name), lambda: ours.download_model(name))
    sdk.request_log.clear()
    Model.delete(name)
    sdk.state.endpoints[name] = sdk.state._endpoint(name)
    ours.delete_model(name)
    theirs, mine = sdk.request_log.entries()
    assert _shape(theirs) == _shape(mine)
    sdk.request_log.clear()
    File.delete(fid)
    sdk.state.files[fid] = {"id": fid, "filename": "t.csv", "size": 1}
    ours.delete_file(fid)
    theirs, mine = sdk.request_log.entries()
    assert _shape(theirs) == _shape(mine)


def test_auth_forms(llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    import httpx

    url = llm_engine_emulator.base_url + "v1/files"
    key = llm_engine_emulator.api_key
    assert httpx.get(url, headers={"x-api-key": key}).status_code == 200
    assert httpx.get(url, auth=(key, "")).status_code == 200
    basic = "Basic " + base64.b64encode(b"wrong:").decode()
    r = httpx.get(url, headers={"Authorization": basic})
    assert r.status_code == 401 and "detail" in r.json()
