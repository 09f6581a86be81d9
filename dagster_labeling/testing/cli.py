"""``dagster-labeling emulate`` / ``python -m dagster_labeling.testing``: run the emulators on localhost."""

import errno
import os
import time

import click

from dagster_labeling.testing.base import DEFAULT_API_KEY
from dagster_labeling.testing.clock import Clock
from dagster_labeling.testing.faults import FaultConfig
from dagster_labeling.testing.server import EmulatorServer

API_KEY_ENV = "DAGSTER_LABELING_EMULATOR_KEY"


@click.command("emulate")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port (0 picks a free one).")
@click.option("--latency-ms", default=0.0, type=float, help="Simulated latency added to every request.")
@click.option("--time-scale", default=1.0, type=float, help="Multiply simulated durations by this.")
@click.option("--fault-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of requests faulted.")
@click.option("--fault-seed", default=0, type=int, help="Seed of the fault sequence.")
@click.option("--api-key", default=None, help=f"Accepted API key (default: ${API_KEY_ENV}, else '{DEFAULT_API_KEY}').")
@click.option("--scale-callback-key", default=None, help="Value of the scale-callback-auth header.")
def emulate_command(
    host: str,
    port: int,
    latency_ms: float,
    time_scale: float,
    fault_rate: float,
    fault_seed: int,
    api_key: str | None,
    scale_callback_key: str | None,
) -> None:
    """Run the platform emulators (Scale AI, …) until Ctrl-C."""
    key = api_key or os.environ.get(API_KEY_ENV) or DEFAULT_API_KEY
    if api_key:  # where the key came from is printed, never the key
        key_source = "the one given with --api-key"
    elif os.environ.get(API_KEY_ENV):
        key_source = f"from ${API_KEY_ENV}"
    else:
        key_source = f"the default '{DEFAULT_API_KEY}'"
    faults = FaultConfig(rate=fault_rate, seed=fault_seed, latency_seconds=latency_ms / 1000.0)
    scale_options = {"callback_auth_key": scale_callback_key} if scale_callback_key else {}
    server = EmulatorServer(
        host=host,
        port=port,
        api_key=key,
        clock=Clock(time_scale=time_scale),
        platform_options={"scale": scale_options},
    )
    for name in server.platforms:
        server.set_faults(name, faults)
    try:
        server.start()
    except OSError as exc:
        server.stop()
        if exc.errno == errno.EADDRINUSE:
            raise click.ClickException(f"port {port} on {host} is already in use: pick another with --port "
                                       f"(--port 0 takes a free one).") from None
        cause = exc.__cause__ or exc
        reason = getattr(cause, "strerror", None) or str(cause)
        raise click.ClickException(f"cannot listen on {host}:{port} ({reason}): check --host and --port.") from None
    try:
        click.echo(f"Emulator listening on {server.url} (API key: {key_source})")
        for name in server.platforms:
            suffix = "/v1" if name == "scale" else ""
            click.echo(f"  {name}: {server.platform_url(name)}{suffix}")
        click.echo("Press Ctrl-C to stop.", nl=True)
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        server.stop()
