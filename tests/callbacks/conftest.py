from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from dagster_labeling.callbacks import CallbackInbox, ScaleCallbackSource, build_callback_app

from .callbacks_helpers import SCALE_KEY, make_poster


@pytest.fixture
def inbox_path(tmp_path: Path) -> Path:
    return tmp_path / "inbox.db"


@pytest.fixture
def inbox(inbox_path: Path) -> CallbackInbox:
    return CallbackInbox(inbox_path)


@pytest.fixture
def post(inbox: CallbackInbox) -> Callable[..., httpx.Response]:
    """POST to a receiver app (built over the ``inbox`` fixture, 4 KiB body limit) via httpx.ASGITransport."""
    app = build_callback_app(inbox, [ScaleCallbackSource(SCALE_KEY)], max_body_bytes=4096)
    return make_poster(app)
