"""Argilla webhooks: the emulator signs as the real server (checked with the ``standardwebhooks`` library),
the receiver verifies (bad signature, stale timestamp rejected), dedups retried deliveries on content, and the
sensor drains the inbox into runs."""

import base64
import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from dagster_labeling.argilla import ArgillaClient, RecordInput, build_argilla_webhook_sensor
from dagster_labeling.callbacks import ArgillaWebhookSource, CallbackInbox, build_callback_app
from dagster_labeling.testing import Clock, EmulatorServer, serve_in_thread
from dagster_labeling.testing.argilla import sign_webhook

from .argilla_helpers import simple_settings
from .callbacks_poster import make_poster

SECRET = base64.b64encode(b"argilla-webhook-secret-bytes").decode()
NOW = 1_800_000_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def receiver(inbox_path: Path, port: int, secret: str) -> Iterator[str]:
    app = build_callback_app(CallbackInbox(inbox_path), [ArgillaWebhookSource(secret)])
    with serve_in_thread(app, port=port) as url:
        yield f"{url}/callbacks/argilla"


def _wait_for(predicate, seconds: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def _signed(body: str, msg_id: str = "msg_1", ts: int = NOW, secret: str = SECRET) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sign_webhook(secret, msg_id, ts,
                                                                                                   body),
            "content-type": "application/json"}


def test_emulator_signature_is_standard_webhooks() -> None:
    body = json.dumps({"type": "record.completed", "version": 1, "timestamp": "t", "data": {"id": "r"}})
    headers = _signed(body, ts=int(time.time()))
    assert StandardWebhook(SECRET).verify(body, headers) == json.loads(body)  # the reference implementation
    ArgillaWebhookSource(SECRET).verify(headers, body.encode())


@pytest.fixture
def post(tmp_path: Path):  # type: ignore[no-untyped-def]
    inbox = CallbackInbox(tmp_path / "inbox.db")
    app = build_callback_app(inbox, [ArgillaWebhookSource(SECRET, clock=lambda: NOW + 10)])
    return make_poster(app)


def test_receiver_rejects_bad_signature_stale_timestamp_and_missing_headers(post) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps({"type": "record.completed", "version": 1, "timestamp": "t", "data": {"id": "r1"}})
    path = "/callbacks/argilla"
    assert post(path, content=body.encode(), headers=_signed(body)).status_code == 200
    other = base64.b64encode(b"some-other-secret").decode()
    r = post(path, content=body.encode(), headers=_signed(body, secret=other))
    assert r.status_code == 401 and "signature" in r.json()["error"]
    tampered = body.replace("r1", "r2")
    assert post(path, content=tampered.encode(), headers=_signed(body)).status_code == 401
    stale = post(path, content=body.encode(), headers=_signed(body, msg_id="msg_2", ts=NOW - 3600))
    assert stale.status_code == 401 and "tolerance" in stale.json()["error"]
    future = post(path, content=body.encode(), headers=_signed(body, msg_id="msg_3", ts=NOW + 3600))
    assert future.status_code == 401
    assert post(path, content=body.encode(), headers={"content-type": "application/json"}).status_code == 401
    assert SECRET not in repr(ArgillaWebhookSource(SECRET))


def test_redelivery_with_a_new_webhook_id_is_a_duplicate(post) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps({"type": "response.created", "version": 1, "timestamp": "2026-01-01T00:00:00.000000Z",
                       "data": {"id": "resp-1", "record_id": "r1"}})
    first = post("/callbacks/argilla", content=body.encode(), headers=_signed(body, msg_id="msg_a"))
    again = post("/callbacks/argilla", content=body.encode(), headers=_signed(body, msg_id="msg_b"))
    assert first.json()["duplicate"] is False and again.json()["duplicate"] is True
    later = body.replace("00:00:00.000000Z", "00:00:01.000000Z")  # same entity, a new event
    assert post("/callbacks/argilla", content=later.encode(), headers=_signed(later, msg_id="msg_c")).json()[
        "duplicate"] is False


def test_events_without_a_timestamp_are_told_apart_by_webhook_id(post) -> None:  # type: ignore[no-untyped-def]
    """Two different events can have the same body when it carries no timestamp (or no entity id): the
    webhook-id tells them apart, and a redelivery under the same webhook-id is stored once."""
    path = "/callbacks/argilla"
    for body in (json.dumps({"type": "dataset.updated", "version": 1, "data": {"id": "ds-1", "name": "n"}}),
                 json.dumps({"type": "ping", "version": 1, "timestamp": "2026-01-01T00:00:00.000000Z",
                             "data": {"agent": "argilla-server", "version": "2.8.0"}})):
        kinds = []
        for msg_id in (f"msg_one_{len(body)}", f"msg_two_{len(body)}", f"msg_one_{len(body)}"):
            answer = post(path, content=body.encode(), headers=_signed(body, msg_id=msg_id))
            assert answer.status_code == 200
            kinds.append(answer.json()["duplicate"])
        assert kinds == [False, False, True]  # two events stored; the redelivery of the first is not


def test_signature_scheme_is_the_reference_library_and_tolerates_junk(post) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps({"type": "record.created", "version": 1, "timestamp": "t", "data": {"id": "r9"}})
    rotated = base64.b64encode(b"the-new-secret").decode()
    source = ArgillaWebhookSource("whsec_" + rotated, additional_secrets=(SECRET,), clock=lambda: NOW)
    reference = StandardWebhook(SECRET).sign("msg_9", datetime.fromtimestamp(NOW, tz=timezone.utc), body)
    headers = {"webhook-id": "msg_9", "webhook-timestamp": str(NOW)}
    source.verify({**headers, "webhook-signature": f"v2,xyz v1 v1,%%% {reference}"}, body.encode())
    assert source.sign("msg_9", NOW, body) == StandardWebhook(rotated).sign(
        "msg_9", datetime.fromtimestamp(NOW, tz=timezone.utc), body)
    answer = post("/callbacks/argilla", content=body.encode(),
                  headers={**headers, "webhook-signature": "v1 v1,%%% garbage"})
    assert answer.status_code == 401 and answer.json()["error"] == "invalid webhook-signature"
    with pytest.raises(ValueError, match="not base64"):
        ArgillaWebhookSource("whsec_")


@dg.op
def noop() -> None:
    pass


@dg.job
def review_job() -> None:
    noop()


def test_emulator_to_receiver_to_sensor_with_retries(tmp_path: Path) -> None:
    inbox_path = tmp_path / "inbox.db"
    port = _free_port()
    url = f"http://127.0.0.1:{port}/callbacks/argilla"
    with EmulatorServer(clock=Clock(time_scale=0.01), platform_options={"argilla": {"annotation_seconds": 20}}) as srv:
        emu = srv.platform("argilla")
        with ArgillaClient("emulator-key", api_url=srv.platform_url("argilla")) as client:
            hook = client.create_webhook(url, ["record.completed"])
            assert hook.secret
            ds = client.create_dataset("hooked", simple_settings())
            client.upsert_records(ds, [RecordInput(fields={"prompt": f"p{i}", "answer": "a"}, external_id=f"r{i}")
                                       for i in range(5)])
            # The receiver is down at first: deliveries fail and are retried (10, 60, 180 simulated s).
            _wait_for(lambda: any(a.status is None for a in emu.webhook_attempts), 10)
            time.sleep(0.15)
            with receiver(inbox_path, port, hook.secret):
                _wait_for(lambda: client.progress(ds.id).completed == 5, 10)
                assert emu.wait_webhooks_idle(15)
        attempts = list(emu.webhook_attempts)
    assert {a.status for a in attempts} >= {None, 200}
    retried = [a for a in attempts if a.attempt > 1]
    assert retried and len({a.webhook_id for a in attempts}) == len(attempts)  # a new webhook-id every attempt
    events = CallbackInbox(inbox_path).read(after_seq=0, limit=100, source="argilla")
    assert sorted(e.payload["data"]["external_id"] for e in events) == [f"r{i}" for i in range(5)]
    assert all(e.payload["type"] == "record.completed" and e.payload["version"] == 1 for e in events)
    assert all("webhook-signature" not in e.received_headers for e in events)

    sensor = build_argilla_webhook_sensor(name="argilla_hooks", inbox_path=str(inbox_path), job=review_job)
    with dg.build_sensor_context(cursor=None) as ctx:
        result = sensor(ctx)
    assert len(result.run_requests) == 5
    assert {r.tags["dagster-labeling/argilla-dataset"] for r in result.run_requests} == {"hooked"}
    assert len({r.run_key for r in result.run_requests}) == 5
    with dg.build_sensor_context(cursor=result.cursor) as ctx:
        idle = sensor(ctx)
    assert not idle.run_requests and idle.skip_reason is not None


def test_callbacks_serve_names_the_argilla_secret_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from dagster_labeling.callbacks.cli import callbacks_group

    monkeypatch.delenv("DL_NO_SCALE_KEY", raising=False)
    monkeypatch.delenv("DL_NO_ARGILLA_SECRET", raising=False)
    result = CliRunner().invoke(callbacks_group, [
        "serve", "--inbox", str(tmp_path / "i.db"), "--scale-callback-key-env", "DL_NO_SCALE_KEY",
        "--argilla-webhook-secret-env", "DL_NO_ARGILLA_SECRET", "--port", "1"])
    assert result.exit_code != 0 and "DL_NO_ARGILLA_SECRET" in result.output
