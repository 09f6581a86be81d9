"""Our LLMEngineClient against the emulator: behaviour, typed errors, validation before sending, faults."""

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagster_labeling._core import ConnectionFailed, InvalidInput, JobFailed, JobState, RetryPolicy, WaitOptions
from dagster_labeling.llm_engine import (
    LLMEngineBadRequest,
    LLMEngineClient,
    LLMEngineNotFound,
    LLMEngineStreamError,
    LLMEngineUnauthorized,
)
from dagster_labeling.testing.pytest_plugin import LLMEngineEmulatorHandle

FAST = WaitOptions(poll_interval_seconds=0.05, max_poll_interval_seconds=0.1, timeout_seconds=20)


@pytest.fixture
def llm(llm_engine_emulator: LLMEngineEmulatorHandle) -> Iterator[LLMEngineClient]:
    # no trailing slash on purpose: the client must not drop the last segment as the SDK does
    with LLMEngineClient(llm_engine_emulator.api_key, base_url=llm_engine_emulator.base_url.rstrip("/"),
                         retry=RetryPolicy(max_attempts=4, initial_backoff_seconds=0.01)) as client:
        yield client


def test_completion_deterministic_with_tokens_and_stop(llm: LLMEngineClient) -> None:
    a = llm.complete("llama-2-7b", "Why is the sky blue?", max_new_tokens=12, return_token_log_probs=True)
    b = llm.complete("llama-2-7b", "Why is the sky blue?", max_new_tokens=12)
    assert a.output.text == b.output.text and a.output.num_prompt_tokens == 5
    assert a.output.tokens is not None and len(a.output.tokens) == a.output.num_completion_tokens <= 12
    assert all(t.log_prob <= 0 for t in a.output.tokens)
    stop = a.output.tokens[1].token.strip()
    c = llm.complete("llama-2-7b", "Why is the sky blue?", max_new_tokens=12, stop_sequences=[stop])
    assert c.output.num_completion_tokens <= 2 and c.output.text.endswith(stop)


@pytest.mark.parametrize("kwargs, field", [
    ({"temperature": 1.5}, "temperature"),
    ({"temperature": -0.1}, "temperature"),
    ({"stop_sequences": "\n"}, "stop_sequences"),
    ({"stop_sequences": [""]}, "stop_sequences"),
    ({"return_token_log_probs": "yes"}, "return_token_log_probs"),
    ({"top_p": 0}, "top_p"),
    ({"max_new_tokens": 0}, "max_new_tokens"),
    ({"presence_penalty": 3}, "presence_penalty"),
])
def test_bad_completion_input_is_refused_before_sending(
    llm: LLMEngineClient, llm_engine_emulator: LLMEngineEmulatorHandle, kwargs: dict, field: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        llm.complete("llama-2-7b", "hi", **kwargs)
    assert err.value.field == field
    with pytest.raises(InvalidInput):
        list(llm.stream_completion("llama-2-7b", "hi", **kwargs))
    assert len(llm_engine_emulator.request_log) == 0


@pytest.mark.parametrize("name", ["llama/2", "a b", "x?y", "../etc", "", "m#1", "a%2F"])
def test_model_names_that_break_a_path_are_refused(
    llm: LLMEngineClient, llm_engine_emulator: LLMEngineEmulatorHandle, name: str
) -> None:
    for call in (lambda: llm.get_model(name), lambda: llm.delete_model(name), lambda: llm.complete(name, "hi")):
        with pytest.raises(InvalidInput, match="not a valid LLM Engine model name"):
            call()
    assert len(llm_engine_emulator.request_log) == 0


def test_unknown_base_model_refused_before_sending(llm: LLMEngineClient,
                                                  llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    with pytest.raises(InvalidInput, match="Unknown base model"):
        llm.create_fine_tune("gpt-17", "file-abc")
    with pytest.raises(InvalidInput, match="training_file"):
        llm.create_fine_tune("llama-2-7b", "/local/path.csv")
    assert len(llm_engine_emulator.request_log) == 0


def test_stream_chunks_match_sync_and_end_on_finished(llm: LLMEngineClient) -> None:
    sync = llm.complete("mistral-7b", "Tell me", max_new_tokens=8)
    chunks = list(llm.stream_completion("mistral-7b", "Tell me", max_new_tokens=8, return_token_log_probs=True))
    assert "".join(c.output.text for c in chunks if c.output) == sync.output.text
    assert chunks[-1].output is not None and chunks[-1].output.finished
    assert chunks[-1].output.num_prompt_tokens == 2 and all(c.output and c.output.token for c in chunks)


def test_stream_in_band_error_is_typed(llm: LLMEngineClient, llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    llm_engine_emulator.state.stream_error_after_tokens = 2
    got = []
    with pytest.raises(LLMEngineStreamError) as err:
        for chunk in llm.stream_completion("llama-2-7b", "a longer prompt here", max_new_tokens=10):
            got.append(chunk)
    assert len(got) == 2 and err.value.status_code == 500 and "emulated" in str(err.value)


def test_stream_broken_midway_raises_connection_failed(llm: LLMEngineClient,
                                                       llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    llm_engine_emulator.set_faults(rate=1.0, weights={"stream_break": 1.0})
    got = []
    with pytest.raises(ConnectionFailed, match="stream broke"):
        for chunk in llm.stream_completion("llama-2-7b", "break me please", max_new_tokens=10):
            got.append(chunk)
    assert len(got) == 1 and not got[0].output.finished  # type: ignore[union-attr]
    assert llm_engine_emulator.fault_counters()["stream_break"] == 1


def test_stream_retries_429_before_first_byte(llm: LLMEngineClient,
                                              llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    llm_engine_emulator.set_faults(rate=0.5, seed=3, weights={"429": 1.0}, retry_after_seconds=0)
    for i in range(4):
        assert list(llm.stream_completion("llama-2-7b", f"p{i}", max_new_tokens=3))[-1].output.finished  # type: ignore[union-attr]
    assert llm_engine_emulator.fault_counters().get("429", 0) >= 1


def test_async_complete_and_stream(llm: LLMEngineClient) -> None:
    async def main() -> tuple[str, str]:
        r = await llm.acomplete("llama-2-7b", "async hi", max_new_tokens=6)
        text = "".join([c.output.text async for c in llm.astream_completion("llama-2-7b", "async hi",
                                                                             max_new_tokens=6) if c.output])
        return r.output.text, text

    sync_text, stream_text = asyncio.run(main())
    assert sync_text == stream_text != ""


def test_complete_many_collects_failures_per_key(llm: LLMEngineClient,
                                                 llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    result = llm.complete_many("llama-2-7b", {f"k{i}": f"prompt {i}" for i in range(40)}, max_new_tokens=4,
                               concurrency=8)
    assert len(result.succeeded) == 40 and not result.failures
    llm_engine_emulator.state.endpoints.pop("mpt-7b")
    result = llm.complete_many("mpt-7b", ["a", "b"], max_new_tokens=4)
    assert set(result.failures) == {"0", "1"} and result.failures["0"].error_type == "LLMEngineNotFound"


def test_files_streamed_upload_and_typed_errors(llm: LLMEngineClient, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with open(path, "w") as fh:
        fh.write("prompt,response\n")
        for i in range(20_000):
            fh.write(f"question {i},answer {i}\n")
    fid = llm.upload_file(path)
    info = llm.get_file(fid)
    assert info.size == path.stat().st_size and info.filename == "big.csv"
    assert llm.download_file(fid).content == path.read_text()
    fid2 = llm.upload_file(io.BytesIO(b"prompt,response\na,b\n"), filename="small.csv")
    assert {f.id for f in llm.list_files()} == {fid, fid2}
    assert llm.delete_file(fid)
    with pytest.raises(LLMEngineNotFound) as err:
        llm.get_file(fid)
    assert err.value.status_code == 404 and err.value.message == f"File {fid} not found"


def test_fine_tune_lifecycle_loss_falls_and_model_appears(llm: LLMEngineClient, tmp_path: Path) -> None:
    fid = llm.upload_file(io.BytesIO(b"prompt,response\nhi,hello\n"), filename="t.csv")
    job = llm.create_fine_tune("llama-2-7b", fid, hyperparameters={"epochs": 4}, suffix="unit")
    assert job.refresh().raw_status in ("PENDING", "RUNNING")
    status = job.wait(FAST)
    assert status.state is JobState.SUCCEEDED and status.done == status.total == 4
    evals = [p.eval_loss for p in job.loss]
    trains = [p.train_loss for p in job.loss]
    assert len(evals) == 4 and evals == sorted(evals, reverse=True) and trains == sorted(trains, reverse=True)
    model = job.fine_tuned_model or ""
    assert model.startswith("llama-2-7b.unit.") and llm.get_model(model).status == "READY"
    urls = llm.download_model(model, to_folder=tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == sorted(urls)
    assert llm.delete_model(model)
    with pytest.raises(LLMEngineBadRequest):
        llm.delete_model("llama-2-7b")  # base models cannot be deleted


def test_fine_tune_cancel_and_failure(llm: LLMEngineClient, llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    llm_engine_emulator.state.fine_tune_pending_seconds = 1000
    job = llm.create_fine_tune("llama-2-7b", "https://example.com/data.csv")
    assert job.cancel().state is JobState.CANCELED
    put = llm_engine_emulator.request_log.entries("PUT")[0]
    assert put.body == b"" and put.path.endswith("/cancel")
    llm_engine_emulator.state.fine_tune_pending_seconds = 0
    llm_engine_emulator.state.fail_fine_tunes = True
    failing = llm.create_fine_tune("llama-2-7b", "https://example.com/data.csv", hyperparameters={"epochs": 1})
    with pytest.raises(JobFailed, match="FAILURE"):
        failing.wait(FAST)


def test_batch_jobs_v1_v2_results_and_cancel(llm: LLMEngineClient, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    job = llm.create_batch_completions("llama-2-7b", ["one", "two", "three"], output_data_path=f"file://{out}",
                                       max_new_tokens=5)
    assert job.wait(FAST).state is JobState.SUCCEEDED
    outputs = llm.read_batch_output(f"file://{out}")
    assert [o.text for o in outputs] == [llm.complete("llama-2-7b", p, max_new_tokens=5).output.text
                                         for p in ("one", "two", "three")]
    slow = llm.create_batch_completions("llama-2-7b", ["x"], output_data_path=str(tmp_path / "o2.json"),
                                        use_v2=True, labels={"team": "t"})
    assert slow.job is not None and slow.job.status == "queued"
    assert slow.cancel().state is JobState.CANCELED
    with pytest.raises(InvalidInput):
        llm.read_batch_output("s3://bucket/out.json")


def test_wrong_key_and_secret_never_in_errors(llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    secret = "sk-very-secret-123"
    with LLMEngineClient(secret, base_url=llm_engine_emulator.base_url) as bad:
        assert secret not in repr(bad)
        with pytest.raises(LLMEngineUnauthorized) as err:
            bad.list_models()
    assert secret not in str(err.value) and err.value.message == "Could not authenticate user"


def test_retries_injected_5xx_on_reads(llm: LLMEngineClient, llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    llm_engine_emulator.set_faults(rate=0.25, seed=1, weights={"500": 1.0, "429": 1.0}, retry_after_seconds=0)
    for _ in range(10):
        assert len(llm.list_models()) >= 8
    assert llm_engine_emulator.fault_counters().get("500", 0) + llm_engine_emulator.fault_counters().get("429", 0) > 0


def test_stream_break_is_opt_in_and_breaks_plain_answers_too(llm: LLMEngineClient,
                                                             llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    from dagster_labeling.testing import FAULT_KINDS, FaultConfig

    assert "stream_break" not in FaultConfig().weights and "stream_break" not in FAULT_KINDS
    llm_engine_emulator.set_faults(rate=1.0, weights={"stream_break": 1.0})
    with pytest.raises(ConnectionFailed):
        llm.create_fine_tune("llama-2-7b", "https://example.com/d.csv")  # a POST: not retried after sending
