"""Pytest fixtures for the emulators: enable with ``pytest_plugins = ["dagster_labeling.testing.pytest_plugin"]``.

* ``emulator_server``: one :class:`EmulatorServer` on 127.0.0.1 for the whole session.
* ``scale_emulator``: a :class:`ScaleEmulatorHandle` with fresh Scale state and no faults.
* ``llm_engine_emulator``: a :class:`LLMEngineEmulatorHandle` with fresh LLM Engine state and no faults.
* ``argilla_emulator``: an :class:`ArgillaEmulatorHandle` with fresh Argilla state and no faults.
* ``refuel_emulator``: a :class:`RefuelEmulatorHandle` with fresh Refuel state, a project and no faults.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from dagster_labeling.testing.base import RequestLog
from dagster_labeling.testing.clock import Clock
from dagster_labeling.testing.faults import FaultConfig
from dagster_labeling.testing.scale import ScaleEmulator
from dagster_labeling.testing.server import EmulatorServer

if TYPE_CHECKING:
    from dagster_labeling.testing.llm_engine import LLMEngineEmulator


@dataclass
class ScaleEmulatorHandle:
    """What ``scale_emulator`` yields: URLs and key for the SDK, the state, faults and the log."""

    server: EmulatorServer
    state: ScaleEmulator

    @property
    def base_url(self) -> str:
        """The v1 base URL: ``scaleapi.ScaleClient(api_key, api_instance_url=base_url)``."""
        return f"{self.server.platform_url('scale')}/v1"

    @property
    def api_key(self) -> str:
        return self.state.api_key

    @property
    def clock(self) -> Clock:
        return self.state.clock

    @property
    def request_log(self) -> RequestLog:
        return self.state.request_log

    def set_faults(self, config: FaultConfig | None = None, **kwargs: Any) -> FaultConfig:
        """Inject faults into Scale requests (a FaultConfig or its keyword arguments)."""
        return self.server.set_faults("scale", config, **kwargs)

    def fault_counters(self) -> dict[str, int]:
        return self.server.fault_counters("scale")


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    """A running :class:`EmulatorServer` (all registered platforms) on 127.0.0.1, free port."""
    with EmulatorServer(host="127.0.0.1", port=0) as server:
        yield server


@pytest.fixture
def scale_emulator(emulator_server: EmulatorServer) -> Iterator[ScaleEmulatorHandle]:
    """The session server's Scale emulator, reset (state, faults, log) before and after the test."""
    emulator_server.reset("scale")
    state = emulator_server.platform("scale")
    assert isinstance(state, ScaleEmulator)
    defaults = (state.task_duration_seconds, state.task_duration_jitter, state.error_rate, state.require_finalize)
    yield ScaleEmulatorHandle(emulator_server, state)
    (state.task_duration_seconds, state.task_duration_jitter, state.error_rate, state.require_finalize) = defaults
    emulator_server.reset("scale")


# -- LLM Engine -------------------------------------------------------------------------------------------
@dataclass
class LLMEngineEmulatorHandle:
    """What ``llm_engine_emulator`` yields: the base URL (with its trailing ``/``), key, state, faults, log."""

    server: EmulatorServer
    state: "LLMEngineEmulator"

    @property
    def base_url(self) -> str:
        """``LLM_ENGINE_BASE_PATH`` for the SDK, ``base_url`` for ``LLMEngineClient``."""
        return f"{self.server.platform_url('llm-engine')}/"

    @property
    def api_key(self) -> str:
        return self.state.api_key

    @property
    def request_log(self) -> RequestLog:
        return self.state.request_log

    def set_faults(self, config: FaultConfig | None = None, **kwargs: Any) -> FaultConfig:
        """Inject faults into LLM Engine requests (a FaultConfig or its keyword arguments)."""
        return self.server.set_faults("llm-engine", config, **kwargs)

    def fault_counters(self) -> dict[str, int]:
        return self.server.fault_counters("llm-engine")


@pytest.fixture
def llm_engine_emulator(emulator_server: EmulatorServer) -> Iterator[LLMEngineEmulatorHandle]:
    """The session server's LLM Engine emulator, reset before and after; fine-tunes and batches take ~0.5 s."""
    from dagster_labeling.testing.llm_engine import LLMEngineEmulator

    emulator_server.reset("llm-engine")
    state = emulator_server.platform("llm-engine")
    assert isinstance(state, LLMEngineEmulator)
    fields = ("fine_tune_pending_seconds", "fine_tune_epoch_seconds", "batch_seconds", "stream_token_delay_seconds")
    defaults = {f: getattr(state, f) for f in fields}
    state.fine_tune_pending_seconds, state.fine_tune_epoch_seconds, state.batch_seconds = 0.05, 0.1, 0.3
    yield LLMEngineEmulatorHandle(emulator_server, state)
    for f, v in defaults.items():
        setattr(state, f, v)
    emulator_server.reset("llm-engine")


@dataclass
class ArgillaEmulatorHandle:
    """What ``argilla_emulator`` yields: ``api_url``/``api_key`` for the SDK or client, the state, faults, log."""

    server: EmulatorServer
    state: Any  # ArgillaEmulator

    @property
    def api_url(self) -> str:
        """``rg.Argilla(api_url=..., api_key=...)`` / ``ArgillaClient(api_key, api_url=...)``."""
        return self.server.platform_url("argilla")

    @property
    def api_key(self) -> str:
        return str(self.state.api_key)

    @property
    def request_log(self) -> RequestLog:
        log: RequestLog = self.state.request_log
        return log

    def set_faults(self, config: FaultConfig | None = None, **kwargs: Any) -> FaultConfig:
        """Inject faults into Argilla requests (a FaultConfig or its keyword arguments)."""
        return self.server.set_faults("argilla", config, **kwargs)

    def fault_counters(self) -> dict[str, int]:
        return self.server.fault_counters("argilla")


@pytest.fixture
def argilla_emulator(emulator_server: EmulatorServer) -> Iterator[ArgillaEmulatorHandle]:
    """The session server's Argilla emulator, reset before and after the test (annotator settings restored)."""
    emulator_server.reset("argilla")
    state = emulator_server.platform("argilla")
    names = ("annotation_seconds", "responses_per_record", "agreement", "discard_rate", "auto_annotate")
    defaults = {n: getattr(state, n) for n in names}
    yield ArgillaEmulatorHandle(emulator_server, state)
    for n, v in defaults.items():
        setattr(state, n, v)
    emulator_server.reset("argilla")


@dataclass
class RefuelEmulatorHandle:
    """What ``refuel_emulator`` yields: ``base_url``/``api_key``/``project`` for the SDK or client, state, faults."""

    server: EmulatorServer
    state: Any  # RefuelEmulator
    project: str = "emulator-project"

    @property
    def base_url(self) -> str:
        """``refuel.init(api_key=..., api_base_url=base_url, project=...)`` / ``RefuelClient(..., base_url=...)``."""
        return self.server.platform_url("refuel")

    @property
    def api_key(self) -> str:
        return str(self.state.api_key)

    @property
    def request_log(self) -> RequestLog:
        log: RequestLog = self.state.request_log
        return log

    def set_faults(self, config: FaultConfig | None = None, **kwargs: Any) -> FaultConfig:
        """Inject faults into Refuel requests (a FaultConfig or its keyword arguments)."""
        return self.server.set_faults("refuel", config, **kwargs)

    def fault_counters(self) -> dict[str, int]:
        return self.server.fault_counters("refuel")


@pytest.fixture
def refuel_emulator(emulator_server: EmulatorServer) -> Iterator[RefuelEmulatorHandle]:
    """The session server's Refuel emulator, reset, with project ``emulator-project`` and fast simulated work."""
    emulator_server.reset("refuel")
    state: Any = emulator_server.platform("refuel")
    names = ("ingest_seconds", "items_per_second", "export_seconds", "async_label_seconds", "finetune_seconds",
             "label_rate_limit", "label_rate_window_seconds")
    defaults = {n: getattr(state, n) for n in names}
    state.ingest_seconds, state.export_seconds, state.async_label_seconds = 0.05, 0.05, 0.05
    state.finetune_seconds, state.items_per_second = 0.3, 5000.0
    handle = RefuelEmulatorHandle(emulator_server, state)
    state.ensure_project(handle.project)
    yield handle
    for n, v in defaults.items():
        setattr(state, n, v)
    emulator_server.reset("refuel")
