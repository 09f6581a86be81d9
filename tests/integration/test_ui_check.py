"""The UI check (example_repo/ui_check.py): the example under a real `dagster dev` (webserver + daemon) on the
emulator, every job the UI offers launched and every sensor turned on, all runs green.

It takes minutes and starts `dagster dev`, so it runs only when asked:
``DAGSTER_LABELING_UI_CHECK=1 .venv/bin/python -m pytest -m ui tests/integration/test_ui_check.py``.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.ui
@pytest.mark.timeout(1500)
@pytest.mark.skipif(os.environ.get("DAGSTER_LABELING_UI_CHECK") != "1",
                    reason="the UI check runs `dagster dev` for minutes: set DAGSTER_LABELING_UI_CHECK=1")
def test_every_job_and_sensor_gives_green_runs_in_dagster_dev(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "example_repo.ui_check", "--out", str(tmp_path)], cwd=ROOT,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1400)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
