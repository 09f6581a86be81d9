import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
from click.testing import CliRunner

from dagster_labeling.callbacks import CallbackInbox
from dagster_labeling.callbacks.cli import callbacks_group

from .callbacks_helpers import SCALE_KEY, scale_body


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_refuses_to_start_without_the_key_env(tmp_path):
    env_name = "DL_TEST_SCALE_KEY_UNSET"
    os.environ.pop(env_name, None)
    result = CliRunner().invoke(
        callbacks_group,
        ["serve", "--inbox", str(tmp_path / "i.db"), "--scale-callback-key-env", env_name, "--port", "1"],
    )
    assert result.exit_code != 0
    assert env_name in result.output
    assert not (tmp_path / "i.db").exists()


def test_key_is_not_a_cli_option():
    result = CliRunner().invoke(callbacks_group, ["serve", "--help"])
    assert result.exit_code == 0
    assert "--scale-callback-key-env" in result.output
    assert "--scale-callback-key " not in result.output and "--key" not in result.output


def test_group_is_mounted_on_the_main_cli():
    import importlib

    import pytest

    try:
        main_cli = importlib.import_module("dagster_labeling.cli")
    except ImportError as exc:  # the emulator CLI (another folder) may not exist yet in this checkout
        pytest.skip(f"dagster_labeling.cli not importable yet: {exc}")
    assert main_cli.main.commands["callbacks"] is callbacks_group


def test_serve_subprocess_accepts_with_key_refuses_without(tmp_path):
    port = free_port()
    inbox_path = tmp_path / "inbox.db"
    env = {**os.environ, "MY_SCALE_KEY": SCALE_KEY}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagster_labeling.callbacks.cli", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--inbox", str(inbox_path), "--max-body-bytes", "2048",
         "--scale-callback-key-env", "MY_SCALE_KEY", "--log-level", "info"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "receiver did not come up"
            time.sleep(0.1)

        body = scale_body("cli-task")
        ok = httpx.post(f"{base}/callbacks/scale", json=body, headers={"scale-callback-auth": SCALE_KEY})
        assert ok.status_code == 200 and ok.json() == {"accepted": True, "duplicate": False, "seq": 1}
        dup = httpx.post(f"{base}/callbacks/scale", json=body, headers={"scale-callback-auth": SCALE_KEY})
        assert dup.json()["duplicate"] is True
        assert httpx.post(f"{base}/callbacks/scale", json=body).status_code == 401
        wrong = httpx.post(f"{base}/callbacks/scale", json=body, headers={"scale-callback-auth": "nope"})
        assert wrong.status_code == 401
        big = httpx.post(f"{base}/callbacks/scale", content=json.dumps({"x": "y" * 4000}),
                         headers={"scale-callback-auth": SCALE_KEY})
        assert big.status_code == 413
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            output, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate(timeout=5)
    assert proc.returncode is not None
    assert SCALE_KEY not in output  # nothing the server logged carries the key
    assert "callback accepted source=scale" in output
    events = CallbackInbox(inbox_path).read(0, 10)
    assert [e.payload["task_id"] for e in events] == ["cli-task"]
