#!/usr/bin/env python3
"""The project's two commands, for a fresh machine with only Python (3.10+) and pip.

    python3 dev.py demo     # run the example pipeline against the local emulator (no API key)
    python3 dev.py test     # lint, type-check and run the whole test suite
    python3 dev.py bench    # run the benchmarks (extra arguments are passed on)
    python3 dev.py ui-check # the example under `dagster dev` on the emulator, checked in headless chromium

Each creates ``.venv`` on first use and installs what it needs into it (with uv, which pip installs in a
few seconds; plain pip if uv is unavailable). Only the standard library is used here.
"""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
EXTRAS = {"demo": "demo", "test": "test,demo", "bench": "test,demo", "ui-check": "demo"}
REFUEL_SDK = ["refuel==0.15.15", "requests-futures", "loguru"]


def run(*cmd: object, check: bool = True) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, check=check).returncode


def ensure_env(extras: str) -> None:
    """Create the venv and install the package with ``extras``, unless already done for this pyproject."""
    stamp = VENV / f".installed-{extras.replace(',', '-')}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    if not PYTHON.exists():
        run(sys.executable, "-m", "venv", VENV)
    target = f"{ROOT}[{extras}]"
    if subprocess.run([str(PYTHON), "-m", "pip", "--version"], capture_output=True).returncode != 0:
        run(PYTHON, "-m", "ensurepip", "--upgrade")  # a venv made by another tool (e.g. `uv venv`) may lack pip
    uv = run(PYTHON, "-m", "pip", "install", "-q", "uv", check=False) == 0
    installer = [PYTHON, "-m", "uv", "pip", "install", "-q", "--python", PYTHON] if uv else \
        [PYTHON, "-m", "pip", "install", "-q"]
    run(*installer, "-e", target)
    if "test" in extras:
        # The official Refuel SDK pins numpy==1.26.4 and tenacity==8.2.3 at install time only (it imports
        # neither); installed without its pins it runs beside numpy 2 / tenacity 9 (shared/api/refuel.md §9).
        run(*installer, "--no-deps", *REFUEL_SDK)
    stamp.write_text(digest)


def ensure_chromium() -> None:
    """The UI check's screenshots need Debian's chromium: installed when missing and we are root."""
    if shutil.which("chromium") or shutil.which("chromium-browser"):
        return
    if os.name == "posix" and os.geteuid() == 0 and shutil.which("apt-get"):
        run("apt-get", "update", "-q", check=False)
        if run("apt-get", "install", "-y", "-q", "chromium", check=False) == 0:
            return
    print("chromium is not installed, so the UI check takes no screenshots: install it (Debian/Ubuntu: "
          "`sudo apt-get install -y chromium`) and run again", file=sys.stderr)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in EXTRAS:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    ensure_env(EXTRAS[command])
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    # The official LLM Engine SDK (a test dependency) asks PyPI for a newer version on import; not in tests.
    os.environ.setdefault("LLM_ENGINE_DISABLE_VERSION_CHECK", "1")
    if command == "demo":
        return run(PYTHON, "-m", "example_repo.demo", *rest, check=False)
    if command == "ui-check":
        ensure_chromium()
        return run(PYTHON, "-m", "example_repo.ui_check", *rest, check=False)
    if command == "bench":
        return run(PYTHON, "-m", "bench", *rest, check=False)
    for step in (
        [PYTHON, "-m", "ruff", "check", "."],
        [PYTHON, "-m", "mypy"],
        [PYTHON, "-m", "pytest", *rest],
    ):
        code = run(*step, check=False)
        if code != 0:  # pytest's 5 ("no tests ran") is a failure too
            print(f"FAILED ({code}): {' '.join(str(s) for s in step)}", file=sys.stderr)
            return code
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
