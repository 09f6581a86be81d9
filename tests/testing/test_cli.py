"""The ``emulate`` command: starts, prints the platform URLs, answers, and stops."""

import os
import re
import subprocess
import sys
import time

import httpx
from click.testing import CliRunner

from dagster_labeling.cli import main


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
        assert any("cli-key" in line for line in lines)  # the key came from the environment
        t0 = time.monotonic()
        r = httpx.get(f"{url}/projects", auth=("cli-key", ""), timeout=5)
        assert r.status_code == 200 and r.json() == []
        assert time.monotonic() - t0 >= 0.05  # --latency-ms applies
        assert httpx.get(f"{url}/projects", auth=("emulator-key", ""), timeout=5).status_code == 401
    finally:
        proc.kill()
        proc.wait(timeout=10)
