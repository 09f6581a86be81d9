"""Parallel first runs (a backfill) of a partitioned Argilla dataset asset, released together at a barrier
against the emulator with latency, in threads and in processes: one workspace, one dataset with its settings
once, published once, every record exactly once; a re-run changes nothing. Also: 5xx and dropped answers on
the create requests, and a draft left by a run that died."""

import dagster as dg
import pandas as pd
import pytest

from dagster_labeling._core import RetryPolicy
from dagster_labeling._dagster.config import RetryConfig
from dagster_labeling.argilla import ArgillaClient, ArgillaResource, RecordMapping, build_argilla_dataset_asset
from dagster_labeling.testing import FaultConfig
from dagster_labeling.testing.pytest_plugin import ArgillaEmulatorHandle
from dagster_labeling.testing.race import run_together

from .argilla_helpers import full_settings
from .argilla_race_worker import DATASET, PARTITIONS, ROW_KEYS, WORKSPACE, first_run, rows_of

FAST = RetryConfig(max_attempts=8, initial_backoff_seconds=0.01, max_backoff_seconds=0.1)


@dg.asset(partitions_def=dg.StaticPartitionsDefinition(PARTITIONS))
def day_rows(context: dg.AssetExecutionContext) -> pd.DataFrame:
    return pd.DataFrame(rows_of(context.partition_key))


review = build_argilla_dataset_asset(
    name="review", upstream=day_rows, dataset_name=DATASET, settings=full_settings(), workspace=WORKSPACE,
    create_workspace=True, mapping=RecordMapping(fields={"prompt": "prompt", "answer": "answer"},
                                                 metadata={"source": "source"}, key_column="id"))


def _materialize(api_key: str, api_url: str, partition: str) -> bool:
    resource = ArgillaResource(api_key=api_key, api_url=api_url, retry=FAST)
    return dg.materialize([day_rows, review], partition_key=partition,
                          resources={"argilla": resource, "io_manager": dg.mem_io_manager}).success


def _assert_converged(argilla: ArgillaEmulatorHandle, partitions: list[str]) -> dict[str, str]:
    state = argilla.state
    with state.lock:
        workspaces = [w for w in state.workspaces.values() if w["name"] == WORKSPACE]
        datasets = [d for d in state.datasets.values() if d["json"]["name"] == DATASET]
    assert len(workspaces) == 1 and len(datasets) == 1
    ds, settings = datasets[0], full_settings()
    assert ds["json"]["status"] == "ready" and ds["json"]["workspace_id"] == workspaces[0]["id"]
    assert [f["name"] for f in ds["fields"]] == [f.name for f in settings.fields]
    assert [q["name"] for q in ds["questions"]] == [q.name for q in settings.questions]
    assert [m["name"] for m in ds["metadata-properties"]] == [m.name for m in settings.metadata]
    assert [v["name"] for v in ds["vectors-settings"]] == [v.name for v in settings.vectors]
    assert sorted(state.external_ids(ds["json"]["id"])) == sorted(f"{p}/{k}" for p in partitions for k in ROW_KEYS)
    return {r["external_id"]: r["id"] for r in ds["records"].values()}


def _rerun_changes_nothing(argilla: ArgillaEmulatorHandle, before: dict[str, str]) -> None:
    argilla.set_faults(FaultConfig())
    argilla.request_log.clear()
    assert _materialize(argilla.api_key, argilla.api_url, PARTITIONS[0])
    writes = [e for e in argilla.request_log.entries() if e.method in ("POST", "PATCH", "DELETE")]
    assert writes == []  # no create, no settings, no delete: only look-ups and the records' upsert
    assert _assert_converged(argilla, sorted({k.split("/")[0] for k in before})) == before


def test_eight_first_runs_in_threads_converge(argilla_emulator: ArgillaEmulatorHandle) -> None:
    argilla_emulator.state.auto_annotate = False
    argilla_emulator.set_faults(FaultConfig(latency_seconds=0.1))
    results = run_together(lambda i: _materialize(argilla_emulator.api_key, argilla_emulator.api_url,
                                                  PARTITIONS[i]), 8)
    assert results == [True] * 8
    posts = [e for e in argilla_emulator.request_log.entries(method="POST") if e.path == "/api/v1/datasets"]
    assert len(posts) >= 2  # the race was real: several runs tried to create the dataset
    _rerun_changes_nothing(argilla_emulator, _assert_converged(argilla_emulator, PARTITIONS))


def test_four_first_runs_in_processes_converge(argilla_emulator: ArgillaEmulatorHandle,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    argilla_emulator.state.auto_annotate = False
    argilla_emulator.set_faults(FaultConfig(latency_seconds=0.2))
    monkeypatch.setenv("RACE_ARGILLA_KEY", argilla_emulator.api_key)
    monkeypatch.setenv("RACE_ARGILLA_URL", argilla_emulator.api_url)
    assert run_together(first_run, 4, processes=True) == [len(ROW_KEYS)] * 4
    _rerun_changes_nothing(argilla_emulator, _assert_converged(argilla_emulator, PARTITIONS[:4]))


def test_create_path_survives_5xx_and_lost_answers(argilla_emulator: ArgillaEmulatorHandle) -> None:
    """Every create request (workspace, dataset, settings, publish) may fail with 500/503 or commit and lose its
    answer: the transport retries them (they are idempotent now), and a repeat's 409/422 means done."""
    argilla_emulator.state.auto_annotate = False
    argilla_emulator.set_faults(FaultConfig(rate=0.5, seed=7, weights={"500": 1, "503": 1, "drop_after": 1},
                                            methods=["POST", "PUT", "PATCH"],
                                            path_prefixes=["/api/v1/workspaces", "/api/v1/datasets"]))
    assert _materialize(argilla_emulator.api_key, argilla_emulator.api_url, PARTITIONS[0])
    faults = argilla_emulator.fault_counters()
    assert faults["500"] + faults["503"] >= 3 and faults["drop_after"] >= 3
    _assert_converged(argilla_emulator, PARTITIONS[:1])


def test_a_draft_left_by_a_dead_run_is_completed_not_replaced(argilla_emulator: ArgillaEmulatorHandle) -> None:
    argilla_emulator.state.auto_annotate = False
    with ArgillaClient(argilla_emulator.api_key, api_url=argilla_emulator.api_url,
                       retry=RetryPolicy(max_attempts=1)) as client:
        ws = client.create_workspace(WORKSPACE)
        draft = client._json("POST", "datasets", json_body={"name": DATASET, "workspace_id": ws.id})
        client._json("POST", f"datasets/{draft['id']}/fields",  # the run died after its first field
                     json_body={**full_settings().fields[0].to_wire(), "dataset_id": draft["id"]})
    assert _materialize(argilla_emulator.api_key, argilla_emulator.api_url, PARTITIONS[0])
    _assert_converged(argilla_emulator, PARTITIONS[:1])
    assert argilla_emulator.state.dataset_by_name(DATASET)["json"]["id"] == draft["id"]
