"""``dagster-labeling callbacks serve``: run the callbacks receiver with uvicorn.

Secrets come only from environment variables (named by an option), never from arguments, so they never
land in shell history or ``ps`` output::

    SCALE_CALLBACK_AUTH_KEY=... dagster-labeling callbacks serve --port 8787 --inbox /var/lib/labeling/inbox.db
"""

import logging
import os
from datetime import timedelta

import click

__all__ = ["callbacks_group"]


@click.group(name="callbacks")
def callbacks_group() -> None:
    """Receive platform callbacks (Scale task callbacks) into a durable inbox."""


@callbacks_group.command(name="serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8787, show_default=True, type=click.IntRange(0, 65535), help="Port to bind.")
@click.option(
    "--inbox",
    "inbox_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="SQLite inbox file (created if missing); the sensors read the same file.",
)
@click.option(
    "--max-body-bytes",
    default=1_048_576,
    show_default=True,
    type=click.IntRange(min=1),
    help="Largest accepted request body.",
)
@click.option(
    "--scale-callback-key-env",
    default="SCALE_CALLBACK_AUTH_KEY",
    show_default=True,
    help="Name of the environment variable holding Scale's callback auth key.",
)
@click.option(
    "--argilla-webhook-secret-env",
    default="ARGILLA_WEBHOOK_SECRET",
    show_default=True,
    help="Name of the environment variable holding the Argilla webhook secret (serves /callbacks/argilla when set).",
)
@click.option(
    "--retention-days",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Prune events received longer ago than this (checked hourly); 0 keeps every event.",
)
@click.option("--log-level", default="info", show_default=True, help="uvicorn/receiver log level.")
def serve(
    host: str, port: int, inbox_path: str, max_body_bytes: int, scale_callback_key_env: str,
    argilla_webhook_secret_env: str, retention_days: float, log_level: str,
) -> None:
    """Serve POST /callbacks/<source> and GET /healthz."""
    import uvicorn

    from dagster_labeling.callbacks.inbox import CallbackInbox
    from dagster_labeling.callbacks.receiver import build_callback_app
    from dagster_labeling.callbacks.sources import ArgillaWebhookSource, CallbackSource, ScaleCallbackSource

    key = os.environ.get(scale_callback_key_env)
    argilla_secret = os.environ.get(argilla_webhook_secret_env)
    sources: list[CallbackSource] = [ArgillaWebhookSource(argilla_secret)] if argilla_secret else []
    del argilla_secret
    if key:
        sources.insert(0, ScaleCallbackSource(key))
    if not sources:
        raise click.UsageError(
            f"environment variable {scale_callback_key_env} is not set (or empty): it must hold the Scale "
            "callback auth key (choose another variable with --scale-callback-key-env), or set "
            f"{argilla_webhook_secret_env} to the Argilla webhook secret"
        )
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    inbox = CallbackInbox(inbox_path)
    retention = timedelta(days=retention_days) if retention_days > 0 else None
    app = build_callback_app(inbox, sources, max_body_bytes=max_body_bytes, retention=retention)
    del key
    paths = ", ".join(f"http://{host}:{port}/callbacks/{s.name}" for s in sources)
    click.echo(f"callbacks receiver on {paths}, inbox {inbox.path}", err=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level.lower())


if __name__ == "__main__":  # pragma: no cover - `python -m dagster_labeling.callbacks.cli serve ...`
    callbacks_group()
