"""Platform callbacks (Scale task callbacks; Argilla webhooks next): receive, store durably, drain by sensor.

Receiver side (no Dagster import needed)::

    inbox = CallbackInbox("/var/lib/labeling/inbox.db")
    app = build_callback_app(inbox, [ScaleCallbackSource(os.environ["SCALE_CALLBACK_AUTH_KEY"])])

Dagster side: :func:`build_callback_inbox_sensor` (imported lazily, so the receiver process does not
pay for importing Dagster).
"""

from typing import TYPE_CHECKING, Any

from dagster_labeling.callbacks.inbox import CallbackInbox, InboxEvent, strip_sensitive_headers
from dagster_labeling.callbacks.receiver import build_callback_app
from dagster_labeling.callbacks.sources import (
    ArgillaWebhookSource,
    CallbackRejected,
    CallbackSource,
    ScaleCallbackSource,
    canonical_json_sha256,
)

if TYPE_CHECKING:
    from dagster_labeling.callbacks.sensors import build_callback_inbox_sensor, default_run_key

__all__ = [
    "ArgillaWebhookSource",
    "CallbackInbox",
    "CallbackRejected",
    "CallbackSource",
    "InboxEvent",
    "ScaleCallbackSource",
    "build_callback_app",
    "build_callback_inbox_sensor",
    "canonical_json_sha256",
    "default_run_key",
    "strip_sensitive_headers",
]


def __getattr__(name: str) -> Any:
    if name in ("build_callback_inbox_sensor", "default_run_key"):
        from dagster_labeling.callbacks import sensors

        return getattr(sensors, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
