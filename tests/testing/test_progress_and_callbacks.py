"""Simulated progress (manual and scaled clocks) and outbound callbacks to a real receiver."""

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import scaleapi
from scaleapi.tasks import TaskType

from dagster_labeling.testing import Clock, EmulatorServer, ManualClock, ScaleEmulator


class Receiver:
    """A tiny callback receiver that answers 500 to the first ``fail_first`` POSTs of each path."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.received: list[tuple[str, dict[str, str], Any, int]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    seen = sum(1 for r in receiver.received if r[0] == self.path)
                    status = 500 if seen < receiver.fail_first else 200
                    receiver.received.append((self.path, dict(self.headers), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail_first=2)
    yield r
    r.close()


def _server(clock: Clock, **scale: Any) -> EmulatorServer:
    return EmulatorServer(clock=clock, platform_options={"scale": scale}, tick_interval=0.01)


def _client(server: EmulatorServer) -> scaleapi.ScaleClient:
    return scaleapi.ScaleClient(server.platform("scale").api_key, api_instance_url=server.platform_url("scale") + "/v1")


def _cat_task(client: scaleapi.ScaleClient, uid: str, **kw: Any) -> Any:
    return client.create_task(
        TaskType.Categorization,
        project="p",
        attachment=f"text {uid}",
        attachment_type="text",
        categories=["red", "green", "blue"],
        unique_id=uid,
        **kw,
    )


def test_callbacks_delivered_with_auth_and_retried(receiver: Receiver) -> None:
    with _server(Clock(time_scale=0.01), callback_auth_key="sekrit") as server:
        client = _client(server)
        client.create_project("p", TaskType.Categorization)
        client.create_batch("p", "b", callback=f"{receiver.url}/batch")
        task = _cat_task(client, "u1", batch="b", callback_url=f"{receiver.url}/task")
        client.finalize_batch("b")
        wait_for(lambda: client.get_task(task.id).as_dict()["callback_succeeded"] is True)
        task_posts = [r for r in receiver.received if r[0] == "/task"]
        assert [status for *_, status in task_posts] == [500, 500, 200]  # retried after two 500s
        _, headers, body, _ = task_posts[-1]
        assert headers["scale-callback-auth"] == "sekrit"
        assert headers["Content-Type"] == "application/json"
        assert body["task_id"] == task.id and body["task"]["task_id"] == task.id
        assert body["task"]["status"] == "completed"
        assert body["response"] == body["task"]["response"] and body["response"]["category"] in {"red", "green", "blue"}
        wait_for(lambda: any(r[0] == "/batch" and r[3] == 200 for r in receiver.received))
        batch_body = next(r[2] for r in receiver.received if r[0] == "/batch" and r[3] == 200)
        assert batch_body["status"] == "completed" and batch_body["batch"]["name"] == "b"
        assert client.get_batch("b").status == "completed"


def test_callback_gives_up_and_marks_failure() -> None:
    always_failing = Receiver(fail_first=10**6)
    try:
        with _server(Clock(time_scale=0.001), callback_max_attempts=4) as server:
            client = _client(server)
            client.create_project("p", TaskType.Categorization)
            task = _cat_task(client, "u1", callback_url=always_failing.url)
            wait_for(lambda: client.get_task(task.id).as_dict()["callback_succeeded"] is False)
            assert len(always_failing.received) == 4
    finally:
        always_failing.close()


def test_callback_retries_wait_for_manual_clock(receiver: Receiver) -> None:
    clock = ManualClock()
    with _server(clock) as server:
        client = _client(server)
        client.create_project("p", TaskType.Categorization)
        task = _cat_task(client, "u1", callback_url=receiver.url)
        scale = server.platform("scale")
        scale.complete_all()  # type: ignore[attr-defined]
        wait_for(lambda: len(scale.callbacks.attempts) == 1)  # recorded and rescheduled
        time.sleep(0.1)
        assert len(receiver.received) == 1  # backoff of 1 simulated second has not elapsed
        clock.advance(1.0)
        wait_for(lambda: len(scale.callbacks.attempts) == 2)
        assert [a.status for a in scale.callbacks.attempts] == [500, 500]
        clock.advance(2.0)
        wait_for(lambda: client.get_task(task.id).as_dict()["callback_succeeded"] is True)
        assert len(receiver.received) == 3


def test_manual_clock_drives_completion() -> None:
    clock = ManualClock()
    server = _server(clock, task_duration_seconds=10, task_duration_jitter=1)
    server.tick_interval = 3600  # only explicit ticks
    with server:
        client = _client(server)
        client.create_project("p", TaskType.Categorization)
        task = _cat_task(client, "u1")
        assert client.get_task(task.id).as_dict()["created_at"] == "2026-01-01T00:00:00.000Z"
        clock.advance(9.9)
        server.tick()
        assert client.get_task(task.id).status == "pending"
        clock.advance(1.2)
        server.tick()
        done = client.get_task(task.id).as_dict()
        assert done["status"] == "completed" and done["completed_at"].startswith("2026-01-01T00:00:11.")
        # determinism: the same inputs give the same response on a fresh emulator
        other = ScaleEmulator(clock=ManualClock())
        with _server(other.clock) as server2:
            c2 = _client(server2)
            c2.create_project("p", TaskType.Categorization)
            t2 = _cat_task(c2, "u1")
            server2.platform("scale").complete_all()  # type: ignore[attr-defined]
            assert c2.get_task(t2.id).response == done["response"]


def test_require_finalize_and_error_rate() -> None:
    clock = ManualClock()
    with _server(clock, require_finalize=True, error_rate=1.0) as server:
        server.tick_interval = 3600
        client = _client(server)
        client.create_project("p", TaskType.Categorization)
        client.create_batch("p", "b")
        task = _cat_task(client, "u1", batch="b")
        clock.advance(100)
        server.tick()
        assert client.get_task(task.id).status == "pending"
        client.finalize_batch("b")
        clock.advance(100)
        server.tick()
        assert client.get_task(task.id).status == "error"
        assert client.batch_status("b")["error"] == 1 and client.get_batch("b").status == "completed"


def test_scaled_clock_completes_tasks_in_real_time() -> None:
    with _server(Clock(time_scale=0.02)) as server:  # 2 s simulated -> 40-50 ms real
        client = _client(server)
        client.create_project("p", TaskType.Categorization)
        task = _cat_task(client, "u1")
        assert task.status == "pending"
        wait_for(lambda: client.get_task(task.id).status == "completed", timeout=5)
