"""Pytest fixtures for the emulators: enable with ``pytest_plugins = ["dagster_labeling.testing.pytest_plugin"]``.

* ``emulator_server``: one :class:`EmulatorServer` on 127.0.0.1 for the whole session.
* ``scale_emulator``: a :class:`ScaleEmulatorHandle` with fresh Scale state and no faults.
* ``llm_engine_emulator``: a :class:`LLMEngineEmulatorHandle` with fresh LLM Engine state and no faults.
* ``argilla_emulator``: an :class:`ArgillaEmulatorHandle` with fresh Argilla state and no faults.
* ``refuel_emulator``: a :class:`RefuelEmulatorHandle` with fresh Refuel state, a project and no faults.
* ``adaptive_emulator``: an :class:`AdaptiveEmulatorHandle` with fresh Adaptive ML state, fast jobs and no faults.

Each handle (:class:`EmulatorHandle`) has ``api_key``, ``state``, ``clock``, ``request_log``, ``set_faults``
and ``fault_counters``, plus the URL the platform's SDK and client take (``base_url``, or ``api_url``).
"""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from dagster_labeling.testing.base import RequestLog
from dagster_labeling.testing.clock import Clock
from dagster_labeling.testing.faults import FaultConfig
from dagster_labeling.testing.server import EmulatorServer


@dataclass
class EmulatorHandle:
    """What a platform fixture yields: the platform's state, key, clock, request log and fault controls."""

    platform: ClassVar[str]
    server: EmulatorServer
    state: Any

    @property
    def api_key(self) -> str:
        return str(self.state.api_key)

    @property
    def clock(self) -> Clock:
        clock: Clock = self.state.clock
        return clock

    @property
    def request_log(self) -> RequestLog:
        log: RequestLog = self.state.request_log
        return log

    def set_faults(self, config: FaultConfig | None = None, **kwargs: Any) -> FaultConfig:
        """Inject faults into this platform's requests (a FaultConfig or its keyword arguments)."""
        return self.server.set_faults(self.platform, config, **kwargs)

    def fault_counters(self) -> dict[str, int]:
        return self.server.fault_counters(self.platform)


class ScaleEmulatorHandle(EmulatorHandle):
    platform = "scale"

    @property
    def base_url(self) -> str:
        """The v1 base URL: ``scaleapi.ScaleClient(api_key, api_instance_url=base_url)``."""
        return f"{self.server.platform_url('scale')}/v1"


class LLMEngineEmulatorHandle(EmulatorHandle):
    platform = "llm-engine"

    @property
    def base_url(self) -> str:
        """``LLM_ENGINE_BASE_PATH`` for the SDK, ``base_url`` for ``LLMEngineClient`` (with its trailing ``/``)."""
        return f"{self.server.platform_url('llm-engine')}/"


class ArgillaEmulatorHandle(EmulatorHandle):
    platform = "argilla"

    @property
    def api_url(self) -> str:
        """``rg.Argilla(api_url=..., api_key=...)`` / ``ArgillaClient(api_key, api_url=...)``."""
        return self.server.platform_url("argilla")


@dataclass
class RefuelEmulatorHandle(EmulatorHandle):
    platform = "refuel"
    project: str = "emulator-project"

    @property
    def base_url(self) -> str:
        """``refuel.init(api_key=..., api_base_url=base_url, project=...)`` / ``RefuelClient(..., base_url=...)``."""
        return self.server.platform_url("refuel")


class AdaptiveEmulatorHandle(EmulatorHandle):
    platform = "adaptive"

    @property
    def base_url(self) -> str:
        """``adaptive_sdk.Adaptive(base_url=base_url, api_key=api_key)`` (GraphQL ``/api/graphql``, REST ``/api/v1``)"""
        return self.server.platform_url("adaptive")

    def ensure_project(self, key: str, models: Sequence[str] = (), default: str | None = None) -> Any:
        """The project ``key``, created if missing, with ``models`` attached and online (see the emulator)."""
        return self.state.ensure_project(key, tuple(models), default)

    def complete_all(self) -> None:
        """Finish every job and running A/B test now."""
        self.state.complete_all()


@contextmanager
def fresh_platform(
    server: EmulatorServer, name: str, knobs: Sequence[str], overrides: Mapping[str, Any] | None = None
) -> Iterator[Any]:
    """The platform's state, reset (state, faults, log) before and after, with ``knobs`` (and the body limit,
    ``max_body_bytes``) restored afterwards."""
    server.reset(name)
    state = server.platform(name)
    defaults = {knob: getattr(state, knob) for knob in (*knobs, "max_body_bytes")}
    for knob, value in (overrides or {}).items():
        setattr(state, knob, value)
    try:
        yield state
    finally:
        for knob, value in defaults.items():
            setattr(state, knob, value)
        server.reset(name)


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    """A running :class:`EmulatorServer` (all registered platforms) on 127.0.0.1, free port."""
    with EmulatorServer(host="127.0.0.1", port=0) as server:
        yield server


@pytest.fixture
def scale_emulator(emulator_server: EmulatorServer) -> Iterator[ScaleEmulatorHandle]:
    """The session server's Scale emulator, reset (state, faults, log) before and after the test."""
    knobs = ("task_duration_seconds", "task_duration_jitter", "error_rate", "require_finalize")
    with fresh_platform(emulator_server, "scale", knobs) as state:
        yield ScaleEmulatorHandle(emulator_server, state)


@pytest.fixture
def llm_engine_emulator(emulator_server: EmulatorServer) -> Iterator[LLMEngineEmulatorHandle]:
    """The session server's LLM Engine emulator, reset before and after; fine-tunes and batches take ~0.5 s."""
    knobs = ("fine_tune_pending_seconds", "fine_tune_epoch_seconds", "batch_seconds", "stream_token_delay_seconds")
    fast = {"fine_tune_pending_seconds": 0.05, "fine_tune_epoch_seconds": 0.1, "batch_seconds": 0.3}
    with fresh_platform(emulator_server, "llm-engine", knobs, fast) as state:
        yield LLMEngineEmulatorHandle(emulator_server, state)


@pytest.fixture
def argilla_emulator(emulator_server: EmulatorServer) -> Iterator[ArgillaEmulatorHandle]:
    """The session server's Argilla emulator, reset before and after the test (annotator settings restored)."""
    knobs = ("annotation_seconds", "responses_per_record", "agreement", "discard_rate", "auto_annotate")
    with fresh_platform(emulator_server, "argilla", knobs) as state:
        yield ArgillaEmulatorHandle(emulator_server, state)


@pytest.fixture
def refuel_emulator(emulator_server: EmulatorServer) -> Iterator[RefuelEmulatorHandle]:
    """The session server's Refuel emulator, reset, with project ``emulator-project`` and fast simulated work."""
    knobs = ("ingest_seconds", "items_per_second", "export_seconds", "async_label_seconds", "finetune_seconds",
             "label_rate_limit", "label_rate_window_seconds")
    fast = {"ingest_seconds": 0.05, "export_seconds": 0.05, "async_label_seconds": 0.05, "finetune_seconds": 0.3,
            "items_per_second": 5000.0}
    with fresh_platform(emulator_server, "refuel", knobs, fast) as state:
        handle = RefuelEmulatorHandle(emulator_server, state)
        state.ensure_project(handle.project)
        yield handle


@pytest.fixture
def adaptive_emulator(emulator_server: EmulatorServer) -> Iterator[AdaptiveEmulatorHandle]:
    """The session server's Adaptive ML emulator, reset before and after; jobs take ~0.3 s, A/B tests need 20 scores."""
    knobs = ("job_pending_seconds", "job_run_seconds", "ab_min_scores", "fail_jobs", "upload_processing_polls")
    fast = {"job_pending_seconds": 0.05, "job_run_seconds": 0.25}
    with fresh_platform(emulator_server, "adaptive", knobs, fast) as state:
        yield AdaptiveEmulatorHandle(emulator_server, state)
