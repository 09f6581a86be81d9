"""``EmulatorServer``: every platform emulator in one Starlette app, served by uvicorn in a thread."""

import logging
import threading
from collections.abc import Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

import dagster_labeling.testing.scale  # noqa: F401  (registers the "scale" platform)
from dagster_labeling.testing.base import DEFAULT_API_KEY, BodyLimit, PlatformEmulator, registered_platforms
from dagster_labeling.testing.clock import Clock
from dagster_labeling.testing.faults import FaultConfig, FaultInjector, install_log_filter
from dagster_labeling.testing.serving import DEFAULT_IDLE_TIMEOUT_SECONDS, ThreadedServer

log = logging.getLogger(__name__)


class EmulatorServer:
    """Serves platform emulators on ``http://host:port/{platform}`` (e.g. ``/scale/v1`` for Scale AI).

    Args:
        platforms: emulators to mount; default: one of every registered platform.
        host, port: where to listen; ``port=0`` picks a free port (read ``.port`` after ``start()``).
        api_key: the key every default platform accepts (default ``"emulator-key"``).
        clock: shared :class:`Clock` for the default platforms (default: real time, ``time_scale=1``).
        faults: per-platform :class:`FaultConfig` to start with.
        tick_interval: real seconds between ticks that drive simulated progress.
        idle_timeout_seconds: a connection idle this long (no request under way) is closed, and a request body
            that stops arriving this long gets a 408, as real servers do.
        platform_options: extra keyword arguments per platform name for the default factories.
    """

    def __init__(
        self,
        platforms: Iterable[PlatformEmulator] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = DEFAULT_API_KEY,
        clock: Clock | None = None,
        faults: dict[str, FaultConfig] | None = None,
        tick_interval: float = 0.05,
        platform_options: dict[str, dict[str, Any]] | None = None,
        log_level: str = "warning",
        idle_timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS,
    ) -> None:
        self.host = host
        self.idle_timeout_seconds = idle_timeout_seconds
        self.port = port
        self.clock = clock or Clock()
        self.tick_interval = tick_interval
        self.log_level = log_level
        if platforms is None:
            options = platform_options or {}
            platforms = [
                factory(api_key=api_key, clock=self.clock, **options.get(name, {}))
                for name, factory in registered_platforms().items()
            ]
        self.platforms: dict[str, PlatformEmulator] = {p.name: p for p in platforms}
        self.injectors: dict[str, FaultInjector] = {
            name: FaultInjector(BodyLimit(p, idle_timeout_seconds), p.error_body, (faults or {}).get(name))
            for name, p in self.platforms.items()
        }
        routes: list[Any] = [Route("/", self._index), Route("/healthz", self._index)]
        routes += [Mount(f"/{name}", app=inj) for name, inj in self.injectors.items()]
        self.app = Starlette(routes=routes)
        self._server: ThreadedServer | None = None
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    async def _index(self, request: StarletteRequest) -> JSONResponse:
        return JSONResponse({"status": "ok", "platforms": {n: self.platform_url(n) for n in self.platforms}})

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> "EmulatorServer":
        """Start uvicorn and the ticker in background threads; returns when the socket is bound."""
        if self._server is not None:
            return self
        install_log_filter()
        self._server = ThreadedServer(self.app, host=self.host, port=self.port, log_level=self.log_level,
                                      idle_timeout_seconds=self.idle_timeout_seconds).start(timeout)
        self.port = self._server.port
        self._stop.clear()
        self._ticker = threading.Thread(target=self._tick_loop, name="emulator-ticker", daemon=True)
        self._ticker.start()
        return self

    def stop(self) -> None:
        """Stop the ticker, callback deliveries and uvicorn."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        for p in self.platforms.values():
            p.close()
        if self._server is not None:
            self._server.stop()
        self._server = self._ticker = None

    def __enter__(self) -> "EmulatorServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.tick_interval):
            self.tick()

    def tick(self) -> None:
        """Run one tick of every platform now (the ticker does this every ``tick_interval``)."""
        for p in self.platforms.values():
            try:
                p.tick(p.clock.now())
            except Exception:
                log.exception("tick of platform %s failed", p.name)

    # -- access ----------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL of the server, e.g. ``http://127.0.0.1:8765``."""
        return f"http://{self.host}:{self.port}"

    def platform_url(self, name: str) -> str:
        """Mount URL of a platform, e.g. ``http://127.0.0.1:8765/scale``."""
        if name not in self.platforms:
            raise KeyError(f"no platform {name!r}; mounted: {sorted(self.platforms)}")
        return f"{self.url}/{name}"

    def platform(self, name: str) -> PlatformEmulator:
        """The emulator mounted as ``name``."""
        return self.platforms[name]

    def set_faults(self, name: str, config: FaultConfig | None = None, **kwargs: Any) -> FaultConfig:
        """Replace a platform's faults at runtime (``config`` or FaultConfig keyword arguments)."""
        cfg = config or FaultConfig(**kwargs)
        self.injectors[name].config = cfg
        return cfg

    def fault_counters(self, name: str) -> dict[str, int]:
        """How many requests and faults of each kind a platform's injector has seen."""
        return dict(self.injectors[name].counters)

    def reset(self, name: str | None = None) -> None:
        """Reset state and faults of one platform (or all)."""
        for n in [name] if name else list(self.platforms):
            self.platforms[n].reset()
            self.injectors[n].reset()
