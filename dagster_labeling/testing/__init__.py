"""Local emulators of the labeling platforms, for tests, demos and benchmarks.

Each platform emulator speaks the real wire API (paths, auth, status codes, error bodies, pagination)
with simulated, time-scaled progress, outbound callbacks and deterministic fault injection::

    import scaleapi
    from dagster_labeling.testing import EmulatorServer

    with EmulatorServer() as server:
        client = scaleapi.ScaleClient("emulator-key", api_instance_url=server.platform_url("scale") + "/v1")
        client.create_project("demo", scaleapi.tasks.TaskType.Categorization)
        task = client.create_task(
            scaleapi.tasks.TaskType.Categorization, project="demo", attachment="a cat",
            attachment_type="text", categories=["cat", "dog"],
        )
        server.platform("scale").complete_all()  # or wait ~2 s (Clock(time_scale=...) shrinks it)
        print(client.get_task(task.id).response)  # e.g. {'category': 'dog'}

In pytest: ``pytest_plugins = ["dagster_labeling.testing.pytest_plugin"]`` gives the
``emulator_server`` and ``scale_emulator`` fixtures. From a shell: ``dagster-labeling emulate``.
New platforms subclass :class:`PlatformEmulator` and call :func:`register_platform`.
"""

from dagster_labeling.testing.adaptive import AdaptiveEmulator  # registers "adaptive"
from dagster_labeling.testing.argilla import ArgillaEmulator  # registers "argilla"
from dagster_labeling.testing.base import (
    DEFAULT_API_KEY,
    HTTPError,
    LoggedRequest,
    PlatformEmulator,
    RawResponse,
    Request,
    RequestLog,
    Router,
    cursor_page,
    register_platform,
    registered_platforms,
)
from dagster_labeling.testing.clock import Clock, ManualClock
from dagster_labeling.testing.delivery import CallbackDispatcher, DeliveryAttempt
from dagster_labeling.testing.faults import FAULT_KINDS, ConnectionDropped, FaultConfig, FaultInjector
from dagster_labeling.testing.llm_engine import LLMEngineEmulator
from dagster_labeling.testing.race import run_together
from dagster_labeling.testing.refuel import RefuelEmulator
from dagster_labeling.testing.scale import ScaleEmulator
from dagster_labeling.testing.server import EmulatorServer
from dagster_labeling.testing.serving import ThreadedServer, serve_in_thread

__all__ = [
    "AdaptiveEmulator",
    "ArgillaEmulator",
    "DEFAULT_API_KEY",
    "FAULT_KINDS",
    "CallbackDispatcher",
    "Clock",
    "ConnectionDropped",
    "DeliveryAttempt",
    "EmulatorServer",
    "FaultConfig",
    "FaultInjector",
    "HTTPError",
    "LLMEngineEmulator",
    "LoggedRequest",
    "ManualClock",
    "PlatformEmulator",
    "RawResponse",
    "RefuelEmulator",
    "Request",
    "RequestLog",
    "Router",
    "ScaleEmulator",
    "ThreadedServer",
    "cursor_page",
    "register_platform",
    "registered_platforms",
    "run_together",
    "serve_in_thread",
]
