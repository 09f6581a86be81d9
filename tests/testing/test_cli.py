"""The ``emulate`` command: starts, prints the platform URLs, answers, and stops."""

import os
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest
from click.testing import CliRunner

from dagster_labeling.cli import main
from dagster_labeling.testing import cli as emulate_cli


def test_version() -> None:
    import dagster_labeling

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"dagster-labeling, version {dagster_labeling.__version__}"


def test_emulate_help_lists_options() -> None:
    result = CliRunner().invoke(main, ["emulate", "--help"])
    assert result.exit_code == 0
    for option in (
        "--host",
        "--port",
        "--latency-ms",
        "--time-scale",
        "--fault-rate",
        "--fault-seed",
        "--api-key",
        "--scale-callback-key",
    ):
        assert option in result.output


def test_python_m_emulate_serves_scale_until_killed() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DAGSTER_LABELING_EMULATOR_KEY": "cli-key"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagster_labeling.testing", "--port", "0", "--latency-ms", "50"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        url = None
        deadline = time.monotonic() + 20
        lines = []
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline() if proc.stdout else ""
            if not line:
                assert proc.poll() is None, "".join(lines)
                continue
            lines.append(line)
            m = re.search(r"scale: (http://127\.0\.0\.1:\d+/scale/v1)", line)
            url = m.group(1) if m else None
        assert url, "".join(lines)
        assert not any("cli-key" in line for line in lines)  # the key is never printed
        assert any("API key: from $DAGSTER_LABELING_EMULATOR_KEY" in line for line in lines)
        t0 = time.monotonic()
        r = httpx.get(f"{url}/projects", auth=("cli-key", ""), timeout=5)
        assert r.status_code == 200 and r.json() == []
        assert time.monotonic() - t0 >= 0.05  # --latency-ms applies
        assert httpx.get(f"{url}/projects", auth=("emulator-key", ""), timeout=5).status_code == 401
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_emulate_does_not_print_a_key_given_on_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:  # Ctrl-C in the command's wait loop, once the server is up
        if sys._getframe(1).f_code is emulate_cli.emulate_command.callback.__code__:
            raise KeyboardInterrupt
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    result = CliRunner().invoke(main, ["emulate", "--port", "0", "--api-key", "sk-SECRET-flag-key"])
    assert result.exit_code == 0, result.output
    assert "sk-SECRET-flag-key" not in result.output
    assert "(API key: the one given with --api-key)" in result.output and "scale: http://127.0.0.1:" in result.output


def test_emulate_on_a_busy_port_is_a_one_line_error_naming_the_port_and_the_fix() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(main, ["emulate", "--port", str(port)])
    assert result.exit_code != 0
    assert result.output == (f"Error: port {port} on 127.0.0.1 is already in use: pick another with --port "
                             f"(--port 0 takes a free one).\n")
    assert not isinstance(result.exception, OSError)  # no traceback, a clean exit
